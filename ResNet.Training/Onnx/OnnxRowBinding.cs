using Google.Protobuf;

namespace ResNet.Training.Onnx;

/// <summary>
/// Fits an ONNX model to a host that binds graph inputs and outputs to columns by name and scores one row at a time,
/// such as ML.NET's <c>OnnxTransformer</c>: the input gets a name that cannot clash with the host's columns, and each
/// chosen output a per-row form — row 0 of the batch (a Gather), declared without the batch axis — under a new name.
/// <c>OnnxTransformer</c> would otherwise type an output of shape [batch, 512] as a 1×512 vector, which downstream stock
/// components (the multiclass head) refuse.
/// </summary>
public static class OnnxRowBinding
{
    /// <summary>
    /// Returns <paramref name="model"/> with its single input renamed <paramref name="inputName"/> and, as its only outputs,
    /// the per-row form of each output in <paramref name="outputs"/> (existing name → new name).
    /// </summary>
    /// <param name="model">An ONNX model with one input whose outputs have a leading batch axis.</param>
    /// <param name="inputName">The new name of the input.</param>
    /// <param name="outputs">The outputs to keep, each mapped to the name of its per-row form.</param>
    /// <example>
    /// <code>
    /// byte[] bound = OnnxRowBinding.Bind(File.ReadAllBytes("model.onnx"), "Pixels", new Dictionary&lt;string, string&gt; { ["features"] = "Features" });
    /// </code>
    /// </example>
    public static byte[] Bind(byte[] model, string inputName, IReadOnlyDictionary<string, string> outputs)
    {
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"Expected an ONNX model with one input, found {inputs.Count}: {string.Join(", ", inputs.Select(i => i.Name))}.");
        string oldInput = inputs[0].Name;
        if (graph.Node.SelectMany(n => n.Output).Contains(inputName) || initializers.Contains(inputName))
            throw new ArgumentException($"The ONNX model already has a value named '{inputName}'; choose another input name.", nameof(inputName));
        inputs[0].Name = inputName;
        foreach (var node in graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == oldInput) node.Input[i] = inputName;

        var builder = new OnnxGraphBuilder(graph);
        string rowIndex = builder.Int64Scalar($"{inputName}.RowIndex", 0);
        var rowOutputs = new List<global::Onnx.ValueInfoProto>();
        foreach (var (from, to) in outputs)
        {
            var output = graph.Output.FirstOrDefault(o => o.Name == from)
                ?? throw new InvalidDataException($"The ONNX model has no output '{from}' (it has {string.Join(", ", graph.Output.Select(o => o.Name))}).");
            var row = output.Clone();
            row.Name = builder.Node("Gather", to, [from, rowIndex], OnnxGraphBuilder.Int("axis", 0));
            row.Type.TensorType.Shape.Dim.RemoveAt(0);
            rowOutputs.Add(row);
        }
        graph.Output.Clear();
        graph.Output.AddRange(rowOutputs);
        return proto.ToByteArray();
    }
}
