using Google.Protobuf;
using Onnx;
using ResNet.Training.Weights;

namespace ResNet.Training.Onnx;

/// <summary>
/// What an ONNX model written by <see cref="OnnxExporter"/> holds: its <see cref="ModelCard"/> (from the metadata),
/// whether preprocessing is baked in, the opset and the outputs. <see cref="Read"/> checks the graph's signature against
/// the card, so a foreign, truncated or tampered file fails here with a message that says what was expected.
/// </summary>
public sealed record OnnxModelInfo
{
    /// <summary>Architecture, class names and preprocessing of the exported network.</summary>
    public required ModelCard Card { get; init; }
    /// <summary>True when the input is 0–255 Resize² planes and the graph crops and normalises (see <see cref="OnnxExportOptions.WithPreprocessing"/>).</summary>
    public required bool WithPreprocessing { get; init; }
    /// <summary>Opset of the default ONNX domain.</summary>
    public required long Opset { get; init; }
    /// <summary>True when the graph has the <see cref="OnnxNames.Probabilities"/> output.</summary>
    public required bool HasProbabilities { get; init; }

    /// <summary>Side of the square input: <c>Resize</c> with baked-in preprocessing, else <c>Crop</c>.</summary>
    public int InputSide => WithPreprocessing ? Card.Preprocessing.Resize : Card.Preprocessing.Crop;

    /// <summary>Floats per input image: 3 × <see cref="InputSide"/>².</summary>
    public int InputLength => 3 * InputSide * InputSide;

    /// <summary>Reads and checks the ONNX model at <paramref name="path"/>.</summary>
    public static OnnxModelInfo Read(string path) => Parse(ReadBytes(path), path).Info;

    /// <summary>The file's bytes; a missing or empty file gets a clear error.</summary>
    internal static byte[] ReadBytes(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model not found: {path}", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0) throw new InvalidDataException($"{path}: the file is empty; expected an ONNX model written by 'resnet export'.");
        return bytes;
    }

    /// <summary>Parses and checks a model; <paramref name="source"/> names it in errors.</summary>
    internal static (OnnxModelInfo Info, ModelProto Proto) Parse(byte[] bytes, string source)
    {
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source}: not an ONNX model, or a truncated one ({e.Message}); expected a file written by 'resnet export'.", e);
        }
        return (FromProto(proto, source), proto);
    }

    /// <summary>Reads the card from the metadata and checks the graph's input and outputs against it.</summary>
    internal static OnnxModelInfo FromProto(ModelProto proto, string source)
    {
        if (proto.Graph is null || proto.Graph.Node.Count == 0)
            throw new InvalidDataException($"{source}: not an ONNX model, or a truncated one (no graph); expected a file written by 'resnet export'.");
        var metadata = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        if (!metadata.TryGetValue(OnnxNames.Metadata.ModelCard, out var cardJson))
            throw new InvalidDataException(
                $"{source}: the ONNX model has no '{OnnxNames.Metadata.ModelCard}' metadata, so its classes and preprocessing are unknown; expected a model written by 'resnet export' (producer '{OnnxNames.Producer}', found '{proto.ProducerName}').");
        var card = ModelCard.FromJson(cardJson, $"{source} metadata '{OnnxNames.Metadata.ModelCard}'");
        if (metadata.TryGetValue(OnnxNames.Metadata.SourceSha256, out var sha))
            card = card with { WeightsSha256 = sha };
        bool withPreprocessing = metadata.GetValueOrDefault(OnnxNames.Metadata.WithPreprocessing) switch
        {
            "true" => true,
            "false" or null => false,
            var other => throw new InvalidDataException($"{source}: metadata '{OnnxNames.Metadata.WithPreprocessing}' is '{other}'; expected true or false."),
        };
        var info = new OnnxModelInfo
        {
            Card = card,
            WithPreprocessing = withPreprocessing,
            Opset = proto.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max(),
            HasProbabilities = proto.Graph.Output.Any(o => o.Name == OnnxNames.Probabilities),
        };
        info.CheckSignature(proto.Graph, source);
        return info;
    }

    /// <summary>
    /// This model with another card, e.g. other class names or preprocessing chosen on the command line. Only what
    /// lies outside the graph may change: class names always, and without baked-in preprocessing the resize, mean and
    /// std; the architecture and the input size are fixed by the graph, and so is all preprocessing when it is baked in.
    /// </summary>
    public OnnxModelInfo WithCard(ModelCard card, string source)
    {
        var (fixedArch, fixedPrep) = (Card.Architecture, Card.Preprocessing);
        if (card.Architecture.NumClasses != fixedArch.NumClasses || card.Architecture.FeatureDim != fixedArch.FeatureDim)
            throw new ArgumentException($"{source} has {fixedArch.NumClasses} classes and {fixedArch.FeatureDim} features; the card cannot change that.");
        if (card.ClassNames.Length != 0 && card.ClassNames.Length != fixedArch.NumClasses)
            throw new ArgumentException($"{card.ClassNames.Length} class names given for the {fixedArch.NumClasses} classes of {source}.");
        var p = card.Preprocessing.Validated();
        if (WithPreprocessing && (p.Resize != fixedPrep.Resize || p.Crop != fixedPrep.Crop || !p.Mean.SequenceEqual(fixedPrep.Mean) || !p.Std.SequenceEqual(fixedPrep.Std)))
            throw new ArgumentException(
                $"{source} has its preprocessing baked in (resize {fixedPrep.Resize}, crop {fixedPrep.Crop}, mean {string.Join(",", fixedPrep.Mean)}, std {string.Join(",", fixedPrep.Std)}), so it cannot be changed; export it without preprocessing (WithPreprocessing = false) to choose it at run time.");
        if (p.Crop != fixedPrep.Crop)
            throw new ArgumentException($"{source} takes {fixedPrep.Crop}×{fixedPrep.Crop} input; the crop cannot be changed to {p.Crop}.");
        return this with { Card = card with { Architecture = fixedArch } };
    }

    /// <summary>The graph must take one float N×3×S×S input and give float N×FeatureDim features and N×K logits.</summary>
    private void CheckSignature(GraphProto graph, string source)
    {
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        string expectedInput = $"one input '{OnnxNames.Input}' of float [{OnnxNames.BatchDim},3,{InputSide},{InputSide}]"
            + (WithPreprocessing ? " (0–255 RGB planes, preprocessing in the graph)" : " (normalised pixels)");
        if (inputs.Count != 1 || inputs[0].Name != OnnxNames.Input || !Fits(inputs[0], -1, 3, InputSide, InputSide))
            throw new InvalidDataException($"{source}: expected {expectedInput}; the graph has {Describe(inputs)}.");
        foreach (var (name, width) in new[] { (OnnxNames.Features, Card.Architecture.FeatureDim), (OnnxNames.Logits, Card.Architecture.NumClasses) })
        {
            var output = graph.Output.FirstOrDefault(o => o.Name == name);
            if (output is null || !Fits(output, -1, width))
                throw new InvalidDataException(
                    $"{source}: expected an output '{name}' of float [{OnnxNames.BatchDim},{width}]; the graph's outputs are {Describe(graph.Output)}.");
        }
    }

    /// <summary>True when <paramref name="value"/> is a float tensor of the given dimensions (−1: any size or symbolic).</summary>
    private static bool Fits(ValueInfoProto value, params long[] dims)
    {
        var tensor = value.Type?.TensorType;
        if (tensor is null || tensor.ElemType != (int)TensorProto.Types.DataType.Float || tensor.Shape is null || tensor.Shape.Dim.Count != dims.Length)
            return false;
        for (int i = 0; i < dims.Length; i++)
            if (dims[i] >= 0 && (!HasValue(tensor.Shape.Dim[i]) || tensor.Shape.Dim[i].DimValue != dims[i]))
                return false;
        return true;
    }

    private static bool HasValue(TensorShapeProto.Types.Dimension d) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;

    private static string Describe(IEnumerable<ValueInfoProto> values)
    {
        var list = values.Select(v =>
        {
            var t = v.Type?.TensorType;
            if (t is null) return $"'{v.Name}' (not a tensor)";
            string type = Enum.IsDefined(typeof(TensorProto.Types.DataType), t.ElemType)
                ? ((TensorProto.Types.DataType)t.ElemType).ToString().ToLowerInvariant() : $"type {t.ElemType}";
            string dims = t.Shape is null ? "unknown shape" : "[" + string.Join(",", t.Shape.Dim.Select(d => HasValue(d) ? d.DimValue.ToString() : d.DimParam is { Length: > 0 } p ? p : "?")) + "]";
            return $"'{v.Name}' {type} {dims}";
        }).ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }
}
