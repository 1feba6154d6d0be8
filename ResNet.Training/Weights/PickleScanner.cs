using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace ResNet.Training.Weights;

/// <summary>Thrown when a weights file holds more than tensors: its pickle names a global that a state dict never uses.</summary>
public sealed class UnsafeWeightsException(string message) : Exception(message);

/// <summary>
/// Checks a pickle stream, opcode by opcode and without constructing anything, before it is unpickled. A pickle can
/// only reach code through the globals it names (<c>GLOBAL</c>, <c>STACK_GLOBAL</c>, <c>INST</c>) or the extension
/// registry (<c>EXT1/2/4</c>), so the scanner keeps a symbolic stack and memo just deep enough to know every global's
/// module and name, and refuses the stream when any of them is not on <see cref="AllowedGlobals"/> — the ones
/// <c>torch.save(model.state_dict())</c> writes (PyTorch 1.6 to 2.x) and TorchSharp.PyBridge can rebuild.
/// Anything it cannot follow (unknown opcode, extension codes, out-of-band buffers, malformed stack) is refused too.
/// <para>
/// The symbolic stack also keeps integers, strings and tuples, so that the scan returns what the pickle says about each
/// tensor of the top-level dict (<see cref="TensorHeader"/>): its storage, offset, shape and strides, known before any
/// tensor data is inflated.
/// </para>
/// </summary>
public static class PickleScanner
{
    /// <summary>The globals a tensor state dict may name: the ordered dict, the tensor rebuilder and the storage types.</summary>
    public static readonly IReadOnlySet<string> AllowedGlobals = new HashSet<string>(StringComparer.Ordinal)
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
        "torch.BoolStorage",
    };

    private enum Kind { Mark, Text, Int, Tuple, Global, Persistent, Tensor, Dict, Other }

    /// <summary>A value on the symbolic stack: Text (strings, global names), Int, Items (tuple elements, a dict's keys and
    /// values in turn), Storage (a persistent id) or Tensor.</summary>
    private sealed record Item(Kind Kind, string? Text = null, long Int = 0, List<Item>? Items = null, TensorHeader? Tensor = null, StorageHeader? Storage = null);

    /// <summary>
    /// Scans one pickle; throws <see cref="UnsafeWeightsException"/> naming every disallowed global (or the opcode
    /// that cannot be followed). <paramref name="source"/> names the file in the message. Returns what unpickling would
    /// build: every tensor and the state dict (see <see cref="PickleContents"/>).
    /// </summary>
    public static PickleContents Check(ReadOnlySpan<byte> pickle, string source)
    {
        var refused = new SortedSet<string>(StringComparer.Ordinal);
        var other = new Item(Kind.Other);
        var tensors = new List<TensorHeader>();
        var storages = new List<StorageHeader>();
        var stack = new List<Item>();
        var memo = new Dictionary<long, Item>();
        int pos = 0;

        Exception Malformed(string why) =>
            new UnsafeWeightsException($"{source}: refused: the pickle cannot be checked ({why} at byte {pos}); only plain tensor state dicts are accepted.");

        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> data, long count)
        {
            if (count < 0 || count > data.Length - pos) throw Malformed("argument runs past the end");
            var slice = data.Slice(pos, (int)count);
            pos += (int)count;
            return slice;
        }

        string Line(ReadOnlySpan<byte> data)
        {
            int end = data[pos..].IndexOf((byte)'\n');
            if (end < 0) throw Malformed("unterminated line argument");
            string text = Encoding.UTF8.GetString(data.Slice(pos, end));
            pos += end + 1;
            return text;
        }

        Item Pop()
        {
            if (stack.Count == 0) throw Malformed("stack underflow");
            var top = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return top;
        }

        List<Item> PopToMark()
        {
            int mark = stack.FindLastIndex(i => i.Kind == Kind.Mark);
            if (mark < 0) throw Malformed("no mark on the stack");
            var items = stack.GetRange(mark + 1, stack.Count - mark - 1);
            stack.RemoveRange(mark, stack.Count - mark);
            return items;
        }

        Item Global(string module, string name)
        {
            string full = $"{module}.{name}";
            if (!AllowedGlobals.Contains(full)) refused.Add(full);
            return new Item(Kind.Global, full);
        }

        Item Tuple(List<Item> items) => new(Kind.Tuple, Items: items);

        Item Int(ReadOnlySpan<byte> littleEndian, bool unsigned = false)
        {
            var value = new BigInteger(littleEndian, isUnsigned: unsigned);
            // Saturated: a size beyond long is refused by the size checks all the same.
            return new Item(Kind.Int, Int: value > long.MaxValue ? long.MaxValue : value < long.MinValue ? long.MinValue : (long)value);
        }

        Item IntText(string text) =>
            long.TryParse(text.TrimEnd('L'), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long v)
                ? new Item(Kind.Int, Int: v) : other;

        // What torch.save writes for a storage: persistent id ('storage', storage class, key, location, element count).
        // Unpickling allocates the count it claims, so every one is recorded, used by a tensor or not.
        Item Persistent(Item pid)
        {
            if (pid is not { Kind: Kind.Tuple, Items: [_, { Kind: Kind.Global } type, { Kind: Kind.Text } key, _, { Kind: Kind.Int } count, ..] })
                return other;
            storages.Add(new StorageHeader(type.Text!["torch.".Length..], key.Text!, count.Int));
            return new Item(Kind.Persistent, Storage: storages[^1]);
        }

        // What torch.save writes for a tensor: _rebuild_tensor_v2(storage, offset, shape, strides, ...). A call of the
        // rebuilder that cannot be read so is refused: its size would be unknown until it is allocated.
        Item Reduce(Item callable, Item args)
        {
            if (callable is { Kind: Kind.Global, Text: "collections.OrderedDict" }) return new Item(Kind.Dict, Items: []);
            if (callable is not { Kind: Kind.Global, Text: "torch._utils._rebuild_tensor" or "torch._utils._rebuild_tensor_v2" }) return other;
            if (args is not { Kind: Kind.Tuple, Items: [{ Kind: Kind.Persistent, Storage: { } storage }, { Kind: Kind.Int } offset, { Kind: Kind.Tuple } shape, { Kind: Kind.Tuple } stride, ..] }
                || !shape.Items!.All(i => i.Kind == Kind.Int) || !stride.Items!.All(i => i.Kind == Kind.Int))
                throw Malformed("a tensor whose storage, offset, shape or strides cannot be read");
            tensors.Add(new TensorHeader("", storage, offset.Int, [.. shape.Items!.Select(i => i.Int)], [.. stride.Items!.Select(i => i.Int)]));
            return new Item(Kind.Tensor, Tensor: tensors[^1]);
        }

        void SetItems(Item target, List<Item> pairs)
        {
            if (target.Kind == Kind.Dict) target.Items!.AddRange(pairs);
        }

        Item Top() => stack.Count > 0 ? stack[^1] : throw Malformed("stack underflow");

        while (true)
        {
            if (pos >= pickle.Length) throw Malformed("no STOP opcode");
            byte op = pickle[pos++];
            switch (op)
            {
                case 0x2E: // STOP
                    if (refused.Count > 0)
                        throw new UnsafeWeightsException(
                            $"{source}: refused: the file names {string.Join(", ", refused)}, which a tensor state dict never uses. " +
                            "Only tensors are accepted (torch.save(model.state_dict())); such a file can run code when loaded by Python's torch.load, so do not open it there either unless you trust its origin.");
                    if (stack is not [{ Kind: Kind.Dict, Items: { } entries }]) return new PickleContents(storages, tensors, null);
                    var dict = new Dictionary<string, TensorHeader?>(StringComparer.Ordinal);
                    var keys = new Dictionary<TensorHeader, string>(ReferenceEqualityComparer.Instance);
                    foreach (var entry in entries.Chunk(2).Where(e => e.Length == 2))
                    {
                        string key = entry[0].Text ?? $"(a key of kind {entry[0].Kind})";
                        dict[key] = entry[1].Tensor is { } header ? header with { Key = key } : null;
                        if (entry[1].Tensor is { } named) keys.TryAdd(named, key);
                    }
                    return new PickleContents(storages, [.. tensors.Select(t => keys.TryGetValue(t, out var k) ? t with { Key = k } : t)], dict);
                case 0x80: Take(pickle, 1); break; // PROTO
                case 0x95: Take(pickle, 8); break; // FRAME
                case 0x28: stack.Add(new Item(Kind.Mark)); break; // MARK
                case 0x30: Pop(); break; // POP
                case 0x31: PopToMark(); break; // POP_MARK
                case 0x32: stack.Add(Top()); break; // DUP
                // Scalars and byte strings.
                case 0x46: Line(pickle); stack.Add(other); break; // FLOAT
                case 0x49 or 0x4C: stack.Add(IntText(Line(pickle))); break; // INT, LONG
                case 0x4A: stack.Add(Int(Take(pickle, 4))); break; // BININT
                case 0x4B: stack.Add(Int(Take(pickle, 1), unsigned: true)); break; // BININT1
                case 0x4D: stack.Add(Int(Take(pickle, 2), unsigned: true)); break; // BININT2
                case 0x47: Take(pickle, 8); stack.Add(other); break; // BINFLOAT
                case 0x4E or 0x88 or 0x89: stack.Add(other); break; // NONE, NEWTRUE, NEWFALSE
                case 0x8A: stack.Add(Int(Take(pickle, Take(pickle, 1)[0]))); break; // LONG1
                case 0x8B: stack.Add(Int(Take(pickle, BinaryPrimitives.ReadInt32LittleEndian(Take(pickle, 4))))); break; // LONG4
                case 0x42: Take(pickle, BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4))); stack.Add(other); break; // BINBYTES
                case 0x43: Take(pickle, Take(pickle, 1)[0]); stack.Add(other); break; // SHORT_BINBYTES
                case 0x8E or 0x96: Take(pickle, (long)BinaryPrimitives.ReadUInt64LittleEndian(Take(pickle, 8))); stack.Add(other); break; // BINBYTES8, BYTEARRAY8
                // Text: kept, because STACK_GLOBAL takes its module and name from the stack.
                case 0x53: stack.Add(new Item(Kind.Text, Line(pickle).Trim('\'', '"'))); break; // STRING
                case 0x56: stack.Add(new Item(Kind.Text, Line(pickle))); break; // UNICODE (raw-unicode-escape; globals are ASCII)
                case 0x54: stack.Add(new Item(Kind.Text, Encoding.Latin1.GetString(Take(pickle, BinaryPrimitives.ReadInt32LittleEndian(Take(pickle, 4)))))); break; // BINSTRING
                case 0x55: stack.Add(new Item(Kind.Text, Encoding.Latin1.GetString(Take(pickle, Take(pickle, 1)[0])))); break; // SHORT_BINSTRING
                case 0x58: stack.Add(new Item(Kind.Text, Encoding.UTF8.GetString(Take(pickle, BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4)))))); break; // BINUNICODE
                case 0x8C: stack.Add(new Item(Kind.Text, Encoding.UTF8.GetString(Take(pickle, Take(pickle, 1)[0])))); break; // SHORT_BINUNICODE
                case 0x8D: stack.Add(new Item(Kind.Text, Encoding.UTF8.GetString(Take(pickle, (long)BinaryPrimitives.ReadUInt64LittleEndian(Take(pickle, 8)))))); break; // BINUNICODE8
                // Containers.
                case 0x7D: stack.Add(new Item(Kind.Dict, Items: [])); break; // EMPTY_DICT
                case 0x29: stack.Add(Tuple([])); break; // EMPTY_TUPLE
                case 0x5D or 0x8F: stack.Add(other); break; // EMPTY_LIST, EMPTY_SET
                case 0x74: stack.Add(Tuple(PopToMark())); break; // TUPLE
                case 0x64: stack.Add(new Item(Kind.Dict, Items: PopToMark())); break; // DICT
                case 0x6C or 0x91: PopToMark(); stack.Add(other); break; // LIST, FROZENSET
                case 0x85: stack.Add(Tuple([Pop()])); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); stack.Add(Tuple([a, b])); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(Tuple([a, b, c])); break; } // TUPLE3
                case 0x61: Pop(); Top(); break; // APPEND
                case 0x73: { var value = Pop(); var key = Pop(); SetItems(Top(), [key, value]); break; } // SETITEM
                case 0x75: { var pairs = PopToMark(); SetItems(Top(), pairs); break; } // SETITEMS
                case 0x65 or 0x90: PopToMark(); Top(); break; // APPENDS, ADDITEMS
                // Memo.
                case 0x70: memo[long.Parse(Line(pickle))] = Top(); break; // PUT
                case 0x71: memo[Take(pickle, 1)[0]] = Top(); break; // BINPUT
                case 0x72: memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4))] = Top(); break; // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(); break; // MEMOIZE
                case 0x67: stack.Add(Recall(long.Parse(Line(pickle)))); break; // GET
                case 0x68: stack.Add(Recall(Take(pickle, 1)[0])); break; // BINGET
                case 0x6A: stack.Add(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4)))); break; // LONG_BINGET
                // Globals: the only way to code.
                case 0x63: stack.Add(Global(Line(pickle), Line(pickle))); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop();
                    var module = Pop();
                    if (module.Kind != Kind.Text || name.Kind != Kind.Text) throw Malformed("STACK_GLOBAL without a literal module and name");
                    stack.Add(Global(module.Text!, name.Text!));
                    break;
                }
                case 0x69: { var callable = Global(Line(pickle), Line(pickle)); stack.Add(Reduce(callable, Tuple(PopToMark()))); break; } // INST
                // Calls and object building: their callables come from globals checked above.
                case 0x52: { var args = Pop(); stack.Add(Reduce(Pop(), args)); break; } // REDUCE
                // Unpicklers may build objects through these too: a tensor built so is read like one built by REDUCE.
                case 0x81: { var args = Pop(); stack.Add(Reduce(Pop(), args)); break; } // NEWOBJ
                case 0x92: { Pop(); var args = Pop(); stack.Add(Reduce(Pop(), args)); break; } // NEWOBJ_EX
                case 0x6F: { var items = PopToMark(); if (items.Count == 0) throw Malformed("OBJ without a class"); stack.Add(Reduce(items[0], Tuple(items[1..]))); break; } // OBJ
                case 0x62: Pop(); Top(); break; // BUILD
                case 0x50: Line(pickle); stack.Add(other); break; // PERSID
                case 0x51: stack.Add(Persistent(Pop())); break; // BINPERSID
                case 0x82 or 0x83 or 0x84: throw Malformed("extension-registry opcode (EXT1/2/4), which can name any callable");
                case 0x97 or 0x98: throw Malformed("out-of-band buffer opcode");
                default: throw Malformed($"unknown opcode 0x{op:X2}");
            }
        }

        Item Recall(long index) => memo.TryGetValue(index, out var item) ? item : throw Malformed($"memo entry {index} read before it was written");
    }
}

/// <summary>What a weights file's pickle says about one storage (a persistent id), read before its data is inflated.</summary>
/// <param name="Type">The storage's class name, e.g. <c>FloatStorage</c>.</param>
/// <param name="Key">The storage's name in the archive's <c>data/</c> folder.</param>
/// <param name="Elements">Elements the storage claims to hold.</param>
public sealed record StorageHeader(string Type, string Key, long Elements);

/// <summary>
/// What a state dict's pickle says about one tensor, read before any tensor data is inflated: the storage it views and
/// the view (<paramref name="Offset"/>, <paramref name="Shape"/>, <paramref name="Stride"/>, in elements).
/// </summary>
/// <param name="Key">The state dict key, e.g. <c>layer1.0.conv1.weight</c>; empty for a tensor outside the state dict's entries.</param>
/// <param name="Storage">The storage the tensor views.</param>
/// <param name="Offset">The tensor's first element in the storage.</param>
/// <param name="Shape">The tensor's shape.</param>
/// <param name="Stride">The tensor's strides.</param>
public sealed record TensorHeader(string Key, StorageHeader Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>What a checked pickle would build, known without building it.</summary>
/// <param name="Storages">Every storage it loads (each persistent id), in order.</param>
/// <param name="Tensors">Every tensor it rebuilds, wherever it sits; <see cref="TensorHeader.Key"/> is empty for those outside the state dict.</param>
/// <param name="StateDict">The top-level dict: each key with its tensor, or null when the value is not a tensor as
/// <c>torch.save</c> writes one. Null when the pickle builds no dict.</param>
public sealed record PickleContents(IReadOnlyList<StorageHeader> Storages, IReadOnlyList<TensorHeader> Tensors, IReadOnlyDictionary<string, TensorHeader?>? StateDict);
