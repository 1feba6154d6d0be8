using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using ResNet.Training.Model;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static ResNet.Training.Onnx.OnnxGraphBuilder;

namespace ResNet.Training.Onnx;

/// <summary>
/// Writes a <see cref="ResNetModel"/> as an ONNX model (TorchSharp has no exporter of its own): evaluation mode with
/// every BatchNorm folded into the convolution before it, a dynamic batch axis <see cref="OnnxNames.BatchDim"/>, outputs
/// <see cref="OnnxNames.Features"/> and <see cref="OnnxNames.Logits"/> (optionally <see cref="OnnxNames.Probabilities"/>),
/// and the <see cref="ModelCard"/> in the metadata. See docs/onnx.md.
/// </summary>
public static class OnnxExporter
{
    /// <summary>Exports <paramref name="model"/> described by <paramref name="card"/> to <paramref name="path"/> (atomically).</summary>
    /// <returns>What the file holds, as <see cref="OnnxModelInfo.Read"/> would read it back.</returns>
    public static OnnxModelInfo Export(ResNetModel model, ModelCard card, string path, OnnxExportOptions options)
    {
        var proto = Build(model, card, options);
        AtomicFile.Write(path, proto.WriteTo);
        return OnnxModelInfo.FromProto(proto, path);
    }

    /// <summary>Exports the weights file <paramref name="weightsPath"/> (with its card, see <see cref="WeightsFile.Load"/>) to <paramref name="path"/>.</summary>
    public static OnnxModelInfo Export(string weightsPath, string path, OnnxExportOptions options)
    {
        options.Validate();
        var (model, card) = WeightsFile.Load(weightsPath);
        using (model)
            return Export(model, card, path, options);
    }

    /// <summary>Builds the ONNX model in memory.</summary>
    public static ModelProto Build(ResNetModel model, ModelCard card, OnnxExportOptions options)
    {
        options.Validate();
        var config = model.Config;
        var prep = card.Preprocessing.Validated();
        if (card.ClassNames.Length != 0 && card.ClassNames.Length != config.NumClasses)
            throw new ArgumentException($"The card has {card.ClassNames.Length} class names but the model {config.NumClasses} classes.");
        card = card with { Architecture = config };
        var names = ModuleNames(model);
        var g = new OnnxGraphBuilder("resnet");

        int side = options.WithPreprocessing ? prep.Resize : prep.Crop;
        g.Input(OnnxNames.Input, OnnxNames.BatchDim, 3, side, side);
        string x = OnnxNames.Input;
        if (options.WithPreprocessing)
            x = Preprocess(g, x, prep);

        // The graph follows the modules the model itself runs: stem, then each block's branch and shortcut.
        x = ConvBn(g, names, model.StemLayer, x);
        x = g.Node("Relu", "relu", [x]);
        if (model.HasMaxPool)
            x = g.Node("MaxPool", "maxpool", [x], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", Pads(config.Padding, 3, 2)));
        foreach (var block in model.Blocks)
            x = Block(g, names, block, x);

        // Head: global average pooling, flatten, fully connected (y = x·Wᵀ + b).
        x = g.Node("GlobalAveragePool", "avgpool", [x]);
        var features = g.Node("Flatten", OnnxNames.Features, [x], Int("axis", 1));
        var fc = model.Head;
        var logits = g.Node("Gemm", OnnxNames.Logits,
            [features, g.Initializer("fc.weight", Floats(fc.weight!), fc.weight!.shape), g.Initializer("fc.bias", Floats(fc.bias!), fc.bias!.shape)],
            Int("transB", 1));
        g.Output(OnnxNames.Features, OnnxNames.BatchDim, config.FeatureDim);
        g.Output(OnnxNames.Logits, OnnxNames.BatchDim, config.NumClasses);
        if (options.Probabilities)
        {
            g.Node("Softmax", OnnxNames.Probabilities, [logits], Int("axis", 1));
            g.Output(OnnxNames.Probabilities, OnnxNames.BatchDim, config.NumClasses);
        }

        var proto = new ModelProto
        {
            IrVersion = OnnxExportOptions.IrVersionFor(options.Opset),
            ProducerName = OnnxNames.Producer,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            DocString = $"{config.Describe()} exported from TorchSharp; BatchNorm folded into the convolutions.",
            Graph = g.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        foreach (var (key, value) in Metadata(card, options.WithPreprocessing))
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return proto;
    }

    /// <summary>Centre crop (Slice) from Resize² to Crop², minus the mean image when there is one, then x·1/(255·std) − mean/std: the same float32 arithmetic as <see cref="Imaging.Preprocessing.CropAndNormalise(ReadOnlySpan{float})"/>.</summary>
    private static string Preprocess(OnnxGraphBuilder g, string x, Imaging.Preprocessing prep)
    {
        long offset = prep.CropOffset;
        x = g.Node("Slice", "crop", [x,
            g.Int64Initializer("crop.starts", [offset, offset]),
            g.Int64Initializer("crop.ends", [offset + prep.Crop, offset + prep.Crop]),
            g.Int64Initializer("crop.axes", [2L, 3L])]);
        if (prep.MeanImage is { } meanImage)
            x = g.Node("Sub", "subtract_mean_image", [x, g.Initializer("mean_image", meanImage, 1, 3, prep.Crop, prep.Crop)]);
        var (scale, shift) = prep.Normalisation;
        x = g.Node("Mul", "normalise.scale", [x, g.Initializer("normalise.scale_factor", scale, 1, 3, 1, 1)]);
        return g.Node("Sub", "normalise", [x, g.Initializer("normalise.shift", shift, 1, 3, 1, 1)]);
    }

    /// <summary>Every module's qualified name (its state-dict prefix), which names the nodes and initializers.</summary>
    private static Dictionary<torch.nn.Module, string> ModuleNames(ResNetModel model) =>
        model.named_modules().ToDictionary(m => m.module, m => m.name); // modules compare by reference

    /// <summary>One residual block: the branch (ReLU between its convolutions), the shortcut, the sum and its ReLU.</summary>
    private static string Block(OnnxGraphBuilder g, Dictionary<torch.nn.Module, string> names, ResidualBlock block, string x)
    {
        string name = names[block];
        var y = x;
        for (int i = 0; i < block.Branch.Count; i++)
        {
            y = ConvBn(g, names, block.Branch[i], y);
            if (i < block.Branch.Count - 1) y = g.Node("Relu", $"{name}.relu{i + 1}", [y]);
        }
        string? shortcut = block.Shortcut switch
        {
            ResidualBlock.BlockShortcut.Identity => x,
            ResidualBlock.BlockShortcut.Projection => ConvBn(g, names, block.Projection!, x),
            ResidualBlock.BlockShortcut.ZeroPad => ZeroPadShortcut(g, name, x, block.Stride, block.ZeroChannels),
            _ => null,
        };
        if (shortcut is not null) y = g.Node("Add", $"{name}.add", [y, shortcut]);
        return g.Node("Relu", $"{name}.relu", [y]);
    }

    /// <summary>Option A's shortcut as <see cref="ResidualBlock"/> computes it: every stride-th pixel (Slice), zero channels appended (Pad).</summary>
    private static string ZeroPadShortcut(OnnxGraphBuilder g, string name, string x, long stride, long zeroChannels)
    {
        if (stride != 1)
            x = g.Node("Slice", $"{name}.shortcut.subsample", [x,
                g.Int64Initializer($"{name}.shortcut.starts", [0L, 0L]),
                g.Int64Initializer($"{name}.shortcut.ends", [long.MaxValue, long.MaxValue]),
                g.Int64Initializer($"{name}.shortcut.axes", [2L, 3L]),
                g.Int64Initializer($"{name}.shortcut.steps", [stride, stride])]);
        // ONNX pads: all begins (N, C, H, W), then all ends.
        return g.Node("Pad", $"{name}.shortcut", [x, g.Int64Initializer($"{name}.shortcut.pads", [0L, 0L, 0L, 0L, 0L, zeroChannels, 0L, 0L])]);
    }

    /// <summary>A convolution with its BatchNorm folded in (see <see cref="BatchNormFolding"/>).</summary>
    private static string ConvBn(OnnxGraphBuilder g, Dictionary<torch.nn.Module, string> names, ConvNorm layer, string x)
    {
        string convName = names[layer.Conv];
        var (weight, bias) = BatchNormFolding.Fold(layer.Conv.weight!, layer.Norm);
        var shape = layer.Conv.weight!.shape;
        return g.Node("Conv", convName,
            [x, g.Initializer($"{convName}.weight", weight, shape), g.Initializer($"{convName}.bias", bias, shape[0])],
            Ints("kernel_shape", shape[2], shape[3]), Ints("strides", layer.Stride, layer.Stride), Ints("pads", Pads(layer.Padding, layer.Kernel, layer.Stride)));
    }

    /// <summary>
    /// ONNX pads (top, left, bottom, right) equal to what <see cref="ResNetModel"/> does: the layer's own symmetric
    /// padding plus, for <see cref="PaddingMode.SameUpper"/> and <see cref="PaddingMode.SameLower"/>, the explicit asymmetric padding applied before it.
    /// </summary>
    internal static long[] Pads(PaddingMode mode, long kernel, long stride)
    {
        long p = StridedPadding.Symmetric(mode, kernel, stride);
        var e = StridedPadding.Explicit(mode, kernel, stride) ?? [0, 0, 0, 0]; // (left, right, top, bottom)
        return [p + e[2], p + e[0], p + e[3], p + e[1]];
    }

    private static float[] Floats(torch.Tensor t) => t.detach().cpu().to_type(torch.ScalarType.Float32).data<float>().ToArray();

    private static IEnumerable<(string, string)> Metadata(ModelCard card, bool withPreprocessing)
    {
        var p = card.Preprocessing;
        yield return (OnnxNames.Metadata.ModelCard, card.ToJson());
        yield return (OnnxNames.Metadata.ClassNames, JsonSerializer.Serialize(card.Labels));
        yield return (OnnxNames.Metadata.InputSize, p.Crop.ToString(CultureInfo.InvariantCulture));
        yield return (OnnxNames.Metadata.Resize, p.Resize.ToString(CultureInfo.InvariantCulture));
        yield return (OnnxNames.Metadata.Mean, JsonSerializer.Serialize(p.Mean));
        yield return (OnnxNames.Metadata.Std, JsonSerializer.Serialize(p.Std));
        yield return (OnnxNames.Metadata.WithPreprocessing, withPreprocessing ? "true" : "false");
        if (card.WeightsSha256 is { Length: > 0 } sha)
            yield return (OnnxNames.Metadata.SourceSha256, sha);
    }
}

