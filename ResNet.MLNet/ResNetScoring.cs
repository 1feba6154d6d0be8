using ResNet.Training.Native;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Imaging;
using Microsoft.ML.Runtime;
using ResNet.Training.Engines;
using ResNet.Training.Onnx;

namespace ResNet.MLNet;

/// <summary>Which columns a ResNet transform produces; null leaves one out.</summary>
internal sealed record ResNetOutputs(string? Features, string? Score, string? PredictedLabel)
{
    /// <summary>The first output column's name, to name temporary columns after.</summary>
    public string Key => Features ?? Score ?? PredictedLabel ?? throw new ArgumentException("A ResNet transform needs at least one output column.");
}

/// <summary>Where a ResNet transform runs its model: ONNX Runtime's CUDA provider on <see cref="GpuDeviceId"/>, or the CPU when null.</summary>
internal sealed record ScoringDevice(int? GpuDeviceId, bool FallbackToCpu);

/// <summary>
/// The machinery shared by the ResNet transforms, built for one input schema: a chain of
/// <list type="number">
/// <item>stock <c>ResizeImages</c>+<c>ExtractPixels</c> (<see cref="ImageLoader.ResizeAndExtract"/>, the one resize of
/// every front door) or a copy of a pixel column;</item>
/// <item>an <see cref="EngineScoringTransformer"/>: the model exported with preprocessing, run by one
/// <see cref="OnnxEngine"/> in batches (or row by row for a <c>PredictionEngine</c>), saved as a stock
/// <c>OnnxTransformer</c>;</item>
/// <item>a softmax multiclass head (Score with slot names, key-typed PredictedLabel with class names) and
/// <c>DropColumns</c> of the temporary columns.</item>
/// </list>
/// <c>mlContext.Model.Save</c> writes this chain with only stock ML.NET transformers, so it reloads without ResNet.MLNet.
/// </summary>
internal sealed class ResNetScoring : IDisposable
{
    private readonly TransformerChain<ITransformer> chain;
    private readonly string inputColumn, decoded, component;

    public ResNetScoring(ResNetContext context, ResNet18Weights weights, string inputColumn, ResNetOutputs outputs, int batchSize,
        ScoringDevice device, IDataView input, string component, Precision precision = Precision.Float32, ImageFileCheck? fileCheck = null)
    {
        NativeBackends.EnsureOnnxRuntime(); // before ML.NET's OnnxTransformer first calls into ONNX Runtime
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"{component}: batch size must be at least 1, not {batchSize}.");
        this.inputColumn = inputColumn;
        this.component = component;
        Weights = weights;
        var ml = context.Ml;
        var p = weights.Card.Preprocessing;
        Kind = ImageInput.Check(input.Schema, inputColumn, p, component);
        fileCheck?.CheckSchema(input.Schema, component);

        string prefix = $"__ResNet18.{outputs.Key}.";
        string pixels = prefix + "Pixels", resized = prefix + "Resized", features = prefix + "Features", logits = prefix + "Logits";
        decoded = prefix + "Image";

        IDataView data = Kind == ImageInputKind.Bytes ? new ImageBytesDataView(input, inputColumn, decoded, component) : input;
        IEstimator<ITransformer> pre = Kind == ImageInputKind.Pixels
            ? ml.Transforms.CopyColumns(pixels, inputColumn)
            : ImageLoader.ResizeAndExtract(ml, Kind == ImageInputKind.Bytes ? decoded : inputColumn, pixels, p.Resize, resized);
        var preprocess = pre.Fit(data);

        // Int8 quantizes before the engine exists, so the engine and the saved stock OnnxTransformer both run the int8 model.
        byte[] model = precision == Precision.Int8 ? Quantize(weights.OnnxModel, preprocess.Transform(data), pixels) : weights.OnnxModel;
        var engine = OnnxEngine.FromBytes(model, weights.Source,
            device.GpuDeviceId is null ? DeviceChoice.Cpu : DeviceChoice.Cuda, device.GpuDeviceId ?? 0, device.FallbackToCpu);
        if (engine.FallbackReason is { } why)
        {
            using var ch = context.Environment.Register(component).Start("Fit");
            ch.Warning(MessageSensitivity.None, $"{component}: GpuDeviceId is {device.GpuDeviceId} but CUDA is unavailable ({why}); scoring on the CPU (FallbackToCpu).");
        }
        var engineColumns = new List<EngineOutputColumn>();
        if (outputs.Features is not null)
            engineColumns.Add(new(features, EngineColumn.Features, new VectorDataViewType(NumberDataViewType.Single, engine.Card.Architecture.FeatureDim)));
        if (outputs.Score is not null || outputs.PredictedLabel is not null)
            engineColumns.Add(new(logits, EngineColumn.Logits, new VectorDataViewType(NumberDataViewType.Single, engine.Card.Architecture.NumClasses)));
        var scoring = new EngineScoringTransformer(engine, model, pixels, engineColumns, batchSize, $"column '{inputColumn}' ({component})", fileCheck);

        // Fitting the stock transformers after the scorer reads no rows: the views are lazy.
        var post = new List<ITransformer>();
        IDataView current = scoring.Transform(preprocess.Transform(data));
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
        chain = new TransformerChain<ITransformer>([preprocess, scoring, .. post]);
    }

    /// <summary>The weights being run.</summary>
    public ResNet18Weights Weights { get; }

    /// <summary>Rows of the fitting data that calibrate an int8 model's activation ranges.</summary>
    private const int CalibrationRows = 128;

    /// <summary>The int8 QDQ form of the (with-preprocessing) float model, calibrated on the first rows of <paramref name="preprocessed"/>'s pixel planes.</summary>
    private static byte[] Quantize(byte[] floatModel, IDataView preprocessed, string pixels)
    {
        IEnumerable<float[]> Batches()
        {
            using var cursor = preprocessed.GetRowCursor([preprocessed.Schema[pixels]]);
            var getter = cursor.GetGetter<VBuffer<float>>(preprocessed.Schema[pixels]);
            VBuffer<float> row = default;
            var batch = new List<float>();
            for (int rows = 0; rows < CalibrationRows && cursor.MoveNext(); rows++)
            {
                getter(ref row);
                batch.AddRange(row.DenseValues());
                if ((rows + 1) % 8 == 0) { yield return batch.ToArray(); batch.Clear(); }
            }
            if (batch.Count > 0) yield return batch.ToArray();
        }
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(floatModel);
        return Google.Protobuf.MessageExtensions.ToByteArray(Int8Quantizer.Quantize(proto, Batches()));
    }

    /// <summary>What the input column holds.</summary>
    public ImageInputKind Kind { get; }

    /// <summary>The transformers as a chain: what <c>Transform</c>, a <c>PredictionEngine</c> and <c>mlContext.Model.Save</c> use.</summary>
    public ITransformer Chain => Kind == ImageInputKind.Bytes
        ? throw new NotSupportedException(
            $"{component}: a model whose input column '{inputColumn}' holds raw image bytes cannot be saved or used in a PredictionEngine: " +
            "ML.NET has no stock transform that decodes bytes, so the saved model would need ResNet.MLNet to load. " +
            $"Load the images with ml.Transforms.LoadImages(\"{inputColumn}\", imageFolder, \"ImagePath\") instead.")
        : chain;

    /// <summary>The output schema for <paramref name="input"/>, after checking its input column.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema input)
    {
        ImageInput.Check(input, inputColumn, Weights.Card.Preprocessing, component);
        return chain.GetOutputSchema(Kind == ImageInputKind.Bytes ? ImageBytesDataView.SchemaFor(input, decoded) : input);
    }

    /// <summary>Scores <paramref name="input"/> lazily, in batches.</summary>
    public IDataView Transform(IDataView input)
    {
        var kind = ImageInput.Check(input.Schema, inputColumn, Weights.Card.Preprocessing, component);
        if (kind != Kind)
            throw new ArgumentOutOfRangeException(nameof(input), $"{component}: column '{inputColumn}' held {Kind} when fitted and holds {kind} now.");
        return chain.Transform(Kind == ImageInputKind.Bytes ? new ImageBytesDataView(input, inputColumn, decoded, component) : input);
    }

    /// <inheritdoc/>
    public void Dispose() => chain.Dispose();
}
