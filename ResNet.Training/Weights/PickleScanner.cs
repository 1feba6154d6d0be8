using System.Buffers.Binary;
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

    private enum Kind { Mark, Text, Other }

    private readonly record struct Item(Kind Kind, string? Text = null);

    /// <summary>
    /// Scans one pickle; throws <see cref="UnsafeWeightsException"/> naming every disallowed global (or the opcode
    /// that cannot be followed). <paramref name="source"/> names the file in the message.
    /// </summary>
    public static void Check(ReadOnlySpan<byte> pickle, string source)
    {
        var refused = new SortedSet<string>(StringComparer.Ordinal);
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

        void Global(string module, string name)
        {
            string full = $"{module}.{name}";
            if (!AllowedGlobals.Contains(full)) refused.Add(full);
        }

        Item Top() => stack.Count > 0 ? stack[^1] : throw Malformed("stack underflow");

        var other = new Item(Kind.Other);
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
                    return;
                case 0x80: Take(pickle, 1); break; // PROTO
                case 0x95: Take(pickle, 8); break; // FRAME
                case 0x28: stack.Add(new Item(Kind.Mark)); break; // MARK
                case 0x30: Pop(); break; // POP
                case 0x31: PopToMark(); break; // POP_MARK
                case 0x32: stack.Add(Top()); break; // DUP
                // Scalars and byte strings.
                case 0x46 or 0x49 or 0x4C: Line(pickle); stack.Add(other); break; // FLOAT, INT, LONG
                case 0x4A: Take(pickle, 4); stack.Add(other); break; // BININT
                case 0x4B: Take(pickle, 1); stack.Add(other); break; // BININT1
                case 0x4D: Take(pickle, 2); stack.Add(other); break; // BININT2
                case 0x47: Take(pickle, 8); stack.Add(other); break; // BINFLOAT
                case 0x4E or 0x88 or 0x89: stack.Add(other); break; // NONE, NEWTRUE, NEWFALSE
                case 0x8A: Take(pickle, Take(pickle, 1)[0]); stack.Add(other); break; // LONG1
                case 0x8B: Take(pickle, BinaryPrimitives.ReadInt32LittleEndian(Take(pickle, 4))); stack.Add(other); break; // LONG4
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
                case 0x7D or 0x5D or 0x29 or 0x8F: stack.Add(other); break; // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET
                case 0x64 or 0x6C or 0x74 or 0x91: PopToMark(); stack.Add(other); break; // DICT, LIST, TUPLE, FROZENSET
                case 0x85: Pop(); stack.Add(other); break; // TUPLE1
                case 0x86: Pop(); Pop(); stack.Add(other); break; // TUPLE2
                case 0x87: Pop(); Pop(); Pop(); stack.Add(other); break; // TUPLE3
                case 0x61: Pop(); Top(); break; // APPEND
                case 0x73: Pop(); Pop(); Top(); break; // SETITEM
                case 0x65 or 0x75 or 0x90: PopToMark(); Top(); break; // APPENDS, SETITEMS, ADDITEMS
                // Memo.
                case 0x70: memo[long.Parse(Line(pickle))] = Top(); break; // PUT
                case 0x71: memo[Take(pickle, 1)[0]] = Top(); break; // BINPUT
                case 0x72: memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4))] = Top(); break; // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(); break; // MEMOIZE
                case 0x67: stack.Add(Recall(long.Parse(Line(pickle)))); break; // GET
                case 0x68: stack.Add(Recall(Take(pickle, 1)[0])); break; // BINGET
                case 0x6A: stack.Add(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, 4)))); break; // LONG_BINGET
                // Globals: the only way to code.
                case 0x63: Global(Line(pickle), Line(pickle)); stack.Add(other); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop();
                    var module = Pop();
                    if (module.Kind != Kind.Text || name.Kind != Kind.Text) throw Malformed("STACK_GLOBAL without a literal module and name");
                    Global(module.Text!, name.Text!);
                    stack.Add(other);
                    break;
                }
                case 0x69: Global(Line(pickle), Line(pickle)); PopToMark(); stack.Add(other); break; // INST
                // Calls and object building: their callables come from globals checked above.
                case 0x52 or 0x81: Pop(); Pop(); stack.Add(other); break; // REDUCE, NEWOBJ
                case 0x92: Pop(); Pop(); Pop(); stack.Add(other); break; // NEWOBJ_EX
                case 0x6F: PopToMark(); stack.Add(other); break; // OBJ
                case 0x62: Pop(); Top(); break; // BUILD
                case 0x50: Line(pickle); stack.Add(other); break; // PERSID
                case 0x51: Pop(); stack.Add(other); break; // BINPERSID
                case 0x82 or 0x83 or 0x84: throw Malformed("extension-registry opcode (EXT1/2/4), which can name any callable");
                case 0x97 or 0x98: throw Malformed("out-of-band buffer opcode");
                default: throw Malformed($"unknown opcode 0x{op:X2}");
            }
        }

        Item Recall(long index) => memo.TryGetValue(index, out var item) ? item : throw Malformed($"memo entry {index} read before it was written");
    }
}
