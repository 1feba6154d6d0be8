using ResNet.Training.Native;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Onnx;

namespace ResNet.MLNet;

/// <summary>Which columns a ResNet transform produces; null leaves one out.</summary>
internal sealed record ResNetOutputs(string? Features, string? Score, string? PredictedLabel)
{
    /// <summary>The first output column's name, to name temporary columns after.</summary>
    public string Key => Features ?? Score ?? PredictedLabel ?? throw new ArgumentException("A ResNet transform needs at least one output column.");
}

/// <summary>
/// The machinery shared by the ResNet transforms, built for one input schema. Two equivalent paths:
/// <list type="bullet">
/// <item><see cref="Stock"/>: only stock ML.NET transformers — <c>ResizeImages</c>+<c>ExtractPixels</c> (or a copy of a
/// pixel column), <c>OnnxTransformer</c> over the model exported with preprocessing (see <see cref="OnnxGraphNames"/>),
/// a softmax multiclass head (Score with slot names, key-typed PredictedLabel with class names) and <c>DropColumns</c>
/// of the temporary columns. This is what <c>mlContext.Model.Save</c> writes, and what reloads without ResNet.MLNet.</item>
/// <item><see cref="Transform"/>: the same transformers around a <see cref="BatchScoringDataView"/> that runs the same
/// ONNX model through ONNX Runtime in batches instead of <c>OnnxTransformer</c>'s one row at a time.</item>
/// </list>
/// </summary>
internal sealed class ResNetScoring : IDisposable
{
    private readonly ITransformer preprocess, onnx, postprocess;
    private readonly OnnxBatchScorer scorer;
    private readonly List<(string Name, VectorDataViewType Type)> scorerOutputs = [];
    private readonly string inputColumn, pixels, decoded, component;
    private readonly int batchSize;

    public ResNetScoring(MLContext ml, ResNet18Weights weights, string inputColumn, ResNetOutputs outputs, int batchSize,
        IDataView input, string component)
    {
        NativeBackends.EnsureOnnxRuntime(); // before ML.NET's OnnxTransformer first calls into ONNX Runtime
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"{component}: batch size must be at least 1, not {batchSize}.");
        this.inputColumn = inputColumn;
        this.batchSize = batchSize;
        this.component = component;
        Weights = weights;
        var p = weights.Card.Preprocessing;
        Kind = ImageInput.Check(input.Schema, inputColumn, p, component);

        string prefix = $"__ResNet18.{outputs.Key}.";
        pixels = prefix + "Pixels";
        decoded = prefix + "Image";
        string resized = prefix + "Resized", features = prefix + "Features", logits = prefix + "Logits";

        IDataView data = Kind == ImageInputKind.Bytes ? new ImageBytesDataView(input, inputColumn, decoded, component) : input;
        IEstimator<ITransformer> pre = Kind == ImageInputKind.Pixels
            ? ml.Transforms.CopyColumns(pixels, inputColumn)
            : ImageLoader.ResizeAndExtract(ml, Kind == ImageInputKind.Bytes ? decoded : inputColumn, pixels, p.Resize, resized);
        preprocess = pre.Fit(data);
        var preprocessed = preprocess.Transform(data);

        var renames = new Dictionary<string, string>();
        if (outputs.Features is not null) renames[OnnxNames.Features] = features;
        if (outputs.Score is not null || outputs.PredictedLabel is not null) renames[OnnxNames.Logits] = logits;
        byte[] model = OnnxGraphNames.Rename(weights.OnnxModel, pixels, renames);
        string[] onnxColumns = renames.Values.ToArray();
        onnx = ml.Transforms.ApplyOnnxModel(onnxColumns, [pixels], new MemoryStream(model), ml.GpuDeviceId, ml.FallbackToCpu)
            .Fit(preprocessed);
        var scored = onnx.Transform(preprocessed);
        foreach (var name in onnxColumns)
            scorerOutputs.Add((name, (VectorDataViewType)scored.Schema[name].Type));
        scorer = new OnnxBatchScorer(model, pixels, [3, p.Resize, p.Resize], onnxColumns.Select(c => c + OnnxGraphNames.BatchSuffix).ToArray(),
            ml.GpuDeviceId, ml.FallbackToCpu);

        var post = new List<ITransformer>();
        IDataView current = scored;
        void Add(ITransformer t)
        {
            post.Add(t);
            current = t.Transform(current);
        }
        if (outputs.Features is not null)
            Add(ml.Transforms.CopyColumns(outputs.Features, features).Fit(current));
        if (outputs.Score is not null || outputs.PredictedLabel is not null)
        {
            Add(MLNetInternals.SoftmaxHead(ml, logits, weights.Card.Labels,
                outputs.Score ?? prefix + "Score", outputs.PredictedLabel ?? prefix + "PredictedLabel"));
        }
        var temporary = current.Schema.Select(c => c.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Distinct().ToArray();
        Add(ml.Transforms.DropColumns(temporary).Fit(current));
        postprocess = new TransformerChain<ITransformer>(post.ToArray());
    }

    /// <summary>The weights being run.</summary>
    public ResNet18Weights Weights { get; }

    /// <summary>What the input column holds.</summary>
    public ImageInputKind Kind { get; }

    /// <summary>The stock ML.NET transformers equivalent to <see cref="Transform"/> (what is saved).</summary>
    public ITransformer Stock => Kind == ImageInputKind.Bytes
        ? throw new NotSupportedException(
            $"{component}: a model whose input column '{inputColumn}' holds raw image bytes cannot be saved or used in a PredictionEngine: " +
            "ML.NET has no stock transform that decodes bytes, so the saved model would need ResNet.MLNet to load. " +
            $"Load the images with ml.Transforms.LoadImages(\"{inputColumn}\", imageFolder, \"ImagePath\") instead.")
        : new TransformerChain<ITransformer>(preprocess, onnx, postprocess);

    /// <summary>The output schema for <paramref name="input"/>, after checking its input column.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema input)
    {
        ImageInput.Check(input, inputColumn, Weights.Card.Preprocessing, component);
        var schema = Kind == ImageInputKind.Bytes ? ImageBytesDataView.SchemaFor(input, decoded) : input;
        return postprocess.GetOutputSchema(onnx.GetOutputSchema(preprocess.GetOutputSchema(schema)));
    }

    /// <summary>Scores <paramref name="input"/> lazily, in batches.</summary>
    public IDataView Transform(IDataView input)
    {
        var kind = ImageInput.Check(input.Schema, inputColumn, Weights.Card.Preprocessing, component);
        if (kind != Kind)
            throw new ArgumentOutOfRangeException(nameof(input), $"{component}: column '{inputColumn}' held {Kind} when fitted and holds {kind} now.");
        IDataView data = Kind == ImageInputKind.Bytes ? new ImageBytesDataView(input, inputColumn, decoded, component) : input;
        var batched = new BatchScoringDataView(preprocess.Transform(data), scorer, pixels, scorerOutputs, batchSize,
            $"column '{inputColumn}' ({component})");
        return postprocess.Transform(batched);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        scorer.Dispose();
        (onnx as IDisposable)?.Dispose();
    }
}
