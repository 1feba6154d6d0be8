using System.Runtime.InteropServices;
using Onnx;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using static TorchSharp.torch;

namespace ResNet.Training.Weights;

/// <summary>
/// Maps the ONNX graph of a CNTK ResNet (as in <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>) onto a
/// <see cref="ResNetModel"/> state dict. CNTK names its tensors <c>Parameter91</c>, <c>Constant98</c>…, so the mapping
/// follows the graph: every Conv (no bias) is followed by a BatchNormalization (scale, bias, mean, variance → weight,
/// bias, running_mean, running_var; ε 1e-5 as ours); the stem conv comes first; in each block the 1×1 projection, when
/// there is one, and the two 3×3 convs follow in graph order. Each conv's pads, stride and shape are checked against
/// the configuration, so a graph that does not compute what our network computes is refused, not loaded.
/// </summary>
internal static class CntkResNetImport
{
    /// <summary>
    /// Reads the network's tensors as a state dict for <paramref name="config"/> (the caller disposes them), with
    /// conv1's input channels reversed so that the network takes RGB where CNTK's took BGR. The fully connected layer,
    /// which the graph does not have, is zero.
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(ModelProto proto, ResNetConfig config, string source)
    {
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name);
        var nodes = proto.Graph.Node;
        var pairs = new List<(NodeProto Conv, NodeProto Norm)>();
        foreach (var conv in nodes.Where(n => n.OpType == "Conv"))
        {
            var norm = nodes.FirstOrDefault(n => n.OpType == "BatchNormalization" && n.Input[0] == conv.Output[0])
                ?? throw Refuse(source, $"convolution '{conv.Name}' is not followed by a BatchNormalization");
            pairs.Add((conv, norm));
        }
        var stateDict = new Dictionary<string, Tensor>();
        int next = 0;
        try
        {
            Take("conv1", "bn1", 7, 2);
            var maxPool = nodes.SingleOrDefault(n => n.OpType == "MaxPool") ?? throw Refuse(source, "the graph has no max-pool");
            CheckPads(maxPool, OnnxExporter.Pads(config.Padding, 3, 2), "maxpool");
            for (int s = 0; s < config.BlocksPerStage.Length; s++)
                for (int b = 0; b < config.BlocksPerStage[s]; b++)
                {
                    string block = $"layer{s + 1}.{b}";
                    int stride = s > 0 && b == 0 ? 2 : 1;
                    if (b == 0 && s > 0)
                    {
                        // CNTK lists the projection before the block's first 3×3 conv; both read the block's input.
                        string input = pairs[next].Conv.Input[0];
                        Take($"{block}.downsample.0", $"{block}.downsample.1", 1, stride);
                        if (pairs[next].Conv.Input[0] != input)
                            throw Refuse(source, $"the projection of {block} and its first convolution read different inputs");
                    }
                    Take($"{block}.conv1", $"{block}.bn1", 3, stride);
                    Take($"{block}.conv2", $"{block}.bn2", 3, 1);
                }
            if (next != pairs.Count)
                throw Refuse(source, $"it has {pairs.Count} convolutions, {pairs.Count - next} more than a ResNet of {string.Join("-", config.BlocksPerStage)} blocks");
            using (no_grad())
            {
                // CNTK's network reads BGR planes; reversing conv1's input channels makes it read RGB, exactly.
                var bgr = stateDict["conv1.weight"];
                stateDict["conv1.weight"] = bgr.flip(1).contiguous();
                bgr.Dispose();
            }
            stateDict["fc.weight"] = zeros(config.NumClasses, config.FeatureDim);
            stateDict["fc.bias"] = zeros(config.NumClasses);
            return stateDict;
        }
        catch
        {
            foreach (var t in stateDict.Values) t.Dispose();
            throw;
        }

        void Take(string convName, string normName, long kernel, long stride)
        {
            if (next >= pairs.Count) throw Refuse(source, $"it has too few convolutions (none left for {convName})");
            var (conv, norm) = pairs[next++];
            var weight = Read(conv.Input[1]);
            stateDict[$"{convName}.weight"] = weight;
            if (weight.shape[2] != kernel || conv.Input.Count > 2)
                throw Refuse(source, $"'{conv.Name}' should be {convName}, a {kernel}×{kernel} convolution without bias; it is {weight.shape[2]}×{weight.shape[3]}{(conv.Input.Count > 2 ? " with a bias" : "")}");
            var strides = conv.Attribute.FirstOrDefault(a => a.Name == "strides")?.Ints.ToArray() ?? [1, 1];
            if (strides.Any(x => x != stride)) throw Refuse(source, $"'{conv.Name}' ({convName}) has strides [{string.Join(",", strides)}], expected {stride}");
            CheckPads(conv, OnnxExporter.Pads(config.Padding, kernel, stride), convName);
            var epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            if (Math.Abs(epsilon - 1e-5f) > 1e-9f) throw Refuse(source, $"'{norm.Name}' ({normName}) has ε {epsilon}, ours is 1e-5");
            stateDict[$"{normName}.weight"] = Read(norm.Input[1]);
            stateDict[$"{normName}.bias"] = Read(norm.Input[2]);
            stateDict[$"{normName}.running_mean"] = Read(norm.Input[3]);
            stateDict[$"{normName}.running_var"] = Read(norm.Input[4]);
        }

        Tensor Read(string name) => initializers.TryGetValue(name, out var t)
            ? tensor(Floats(t), t.Dims.ToArray())
            : throw Refuse(source, $"the tensor '{name}' is not an initializer");

        void CheckPads(NodeProto node, long[] expected, string ours)
        {
            var pads = node.Attribute.FirstOrDefault(a => a.Name == "pads")?.Ints.ToArray() ?? [0, 0, 0, 0];
            var autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
            if (autoPad != "NOTSET" || !pads.SequenceEqual(expected))
                throw Refuse(source, $"'{node.Name}' ({ours}) pads [{string.Join(",", pads)}] (auto_pad {autoPad}); {config.Padding} padding is [{string.Join(",", expected)}]");
        }
    }

    /// <summary>The values of a float32 initializer, whether stored as raw bytes or as a float list.</summary>
    public static float[] Floats(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"Initializer '{t.Name}' is of ONNX type {t.DataType}, not float32.");
        return t.FloatData.Count > 0 ? t.FloatData.ToArray() : MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
    }

    private static InvalidDataException Refuse(string source, string why) =>
        new($"{source}: not the CNTK ResNet this importer knows ({why}).");
}
