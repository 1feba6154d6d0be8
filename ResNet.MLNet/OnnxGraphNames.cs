using Google.Protobuf;

namespace ResNet.MLNet;

/// <summary>
/// Fits an ONNX model to the ML.NET columns it is bound to. <c>OnnxTransformer</c> binds columns to graph inputs and
/// outputs by name, so they get names that cannot clash with the user's columns (Identity nodes rename without touching
/// the rest of the graph). And it types an output of shape [batch, 512] as a 1×512 vector, which downstream stock
/// components (the multiclass head) refuse; so each output also gets a per-row form, row 0 of the batch (a Gather),
/// declared [512]: <c>OnnxTransformer</c> scores one row at a time and binds those, while the batch scorer fetches the
/// [batch, …] forms named with <see cref="BatchSuffix"/>.
/// </summary>
internal static class OnnxGraphNames
{
    /// <summary>Suffix of the [batch, …] form of each renamed output.</summary>
    public const string BatchSuffix = ".Batch";

    /// <summary>
    /// Returns <paramref name="model"/> with its single input named <paramref name="inputName"/> and, for each output in
    /// <paramref name="outputs"/> (existing name → new name), a per-row output "new name" and a batch output "new name" + <see cref="BatchSuffix"/>.
    /// </summary>
    public static byte[] Rename(byte[] model, string inputName, IReadOnlyDictionary<string, string> outputs)
    {
        var proto = Onnx.ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"Expected an ONNX model with one input, found {inputs.Count}: {string.Join(", ", inputs.Select(i => i.Name))}.");
        var input = inputs[0];
        var renamedInput = input.Clone();
        renamedInput.Name = inputName;
        graph.Input[graph.Input.IndexOf(input)] = renamedInput;
        graph.Node.Insert(0, Node("Identity", $"rename_{inputName}", [inputName], input.Name));

        string rowIndex = $"{inputName}.RowIndex";
        graph.Initializer.Add(new Onnx.TensorProto { Name = rowIndex, DataType = (int)Onnx.TensorProto.Types.DataType.Int64, Int64Data = { 0L } });
        var newOutputs = new List<Onnx.ValueInfoProto>();
        foreach (var (from, to) in outputs)
        {
            var output = graph.Output.FirstOrDefault(o => o.Name == from)
                ?? throw new InvalidDataException($"The ONNX model has no output '{from}' (it has {string.Join(", ", graph.Output.Select(o => o.Name))}).");
            var batch = output.Clone();
            batch.Name = to + BatchSuffix;
            newOutputs.Add(batch);
            graph.Node.Add(Node("Identity", $"rename_{batch.Name}", [from], batch.Name));

            var row = output.Clone();
            row.Name = to;
            row.Type.TensorType.Shape.Dim.RemoveAt(0);
            newOutputs.Add(row);
            var gather = Node("Gather", $"row_{to}", [from, rowIndex], to);
            gather.Attribute.Add(new Onnx.AttributeProto { Name = "axis", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 0 });
            graph.Node.Add(gather);
        }
        graph.Output.Clear();
        graph.Output.AddRange(newOutputs);
        return proto.ToByteArray();
    }

    private static Onnx.NodeProto Node(string op, string name, string[] inputs, string output)
    {
        var node = new Onnx.NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }
}
