using Microsoft.ML;
using ResNet.Training.Onnx;

namespace ResNet.MLNet;

/// <summary>
/// Classifies images with a trained ResNet18: adds <c>Score</c> (<c>Vector&lt;Single, K&gt;</c> class probabilities, slot
/// names = class names) and <c>PredictedLabel</c> (a key type whose values are the class names, so
/// <c>MapKeyToValue</c> and <c>ml.MulticlassClassification.Evaluate</c> work directly), optionally the 512-d features too.
/// </summary>
/// <remarks>
/// Input column types, preprocessing and batching as for <see cref="ResNet18FeaturizerEstimator"/>. For
/// <c>Evaluate</c>, the label column must be a key type whose values are the same class names in the same order
/// (<c>MapValueToKey</c> with <c>keyData</c> of the class names, or labels that sort like the model's class names).
/// </remarks>
/// <example>
/// <code>
/// var classify = ml.Transforms.LoadImages("Image", imageFolder, "ImagePath")
///     .Append(ml.Transforms.ResNet18Classifier("Image", ResNet18Weights.FromFile("fashion.pt")))
///     .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
/// var predictions = classify.Fit(data).Transform(data);
/// </code>
/// </example>
public sealed class ResNet18ClassifierEstimator : IEstimator<ResNet18ClassifierTransformer>
{
    /// <summary>Options of <see cref="ResNet18ClassifierEstimator"/>.</summary>
    public sealed class Options
    {
        /// <summary>The image column (see <see cref="ResNet18FeaturizerEstimator"/> for the types it may hold).</summary>
        public string InputColumnName { get; set; } = "Image";
        /// <summary>The network.</summary>
        public required ResNet18Weights Weights { get; set; }
        /// <summary>The column of class probabilities.</summary>
        public string ScoreColumnName { get; set; } = "Score";
        /// <summary>The key-typed column of the most probable class.</summary>
        public string PredictedLabelColumnName { get; set; } = "PredictedLabel";
        /// <summary>When set, the 512-d features are written to this column too.</summary>
        public string? FeaturesColumnName { get; set; }
        /// <summary>Rows per ONNX Runtime call.</summary>
        public int BatchSize { get; set; } = 32;
        /// <summary>
        /// <see cref="Precision.Float32"/> (the default) or <see cref="Precision.Int8"/>: the network quantized to int8
        /// when the estimator is fitted, its activation ranges calibrated on up to 128 rows of the data given to
        /// <c>Fit</c> (so fit on images like those you will score). Faster on CPUs, features within a cosine of 0.99
        /// of float32; see docs/onnx.md.
        /// </summary>
        /// <example><code>new ResNet18ClassifierEstimator.Options { Weights = weights, Precision = Precision.Int8 }</code></example>
        public Precision Precision { get; set; } = Precision.Float32;
        /// <summary>
        /// The CUDA GPU that ONNX Runtime scores on (the app references <c>Microsoft.ML.OnnxRuntime.Gpu</c>), as
        /// <c>ApplyOnnxModel</c>'s <c>gpuDeviceId</c>; null (the default) scores on the CPU.
        /// </summary>
        public int? GpuDeviceId { get; set; }
        /// <summary>With <see cref="GpuDeviceId"/> set and CUDA unusable: score on the CPU with a warning in <c>MLContext.Log</c> (true), or fail (false, the default).</summary>
        public bool FallbackToCpu { get; set; }
        /// <summary>
        /// The text column of image file paths that <c>LoadImages</c> reads (with <see cref="ImageFolder"/>): when set, each
        /// row's file gets the command line's checks before its image is scored — complete (a truncated JPEG or PNG, which
        /// ML.NET decodes without complaint, its missing rows grey), a known format, at most <c>ImageLimits.MaxPixels</c>
        /// pixels (checked before the image is decoded) — and a failing row raises an error naming the row and the file.
        /// Null (the default): no file checks. In process only: a saved model holds stock transformers, without the checks.
        /// </summary>
        /// <example><code>new ResNet18ClassifierEstimator.Options { Weights = weights, ImagePathColumn = "ImagePath", ImageFolder = imageFolder }</code></example>
        public string? ImagePathColumn { get; set; }
        /// <summary>The folder given to <c>LoadImages</c>, which <see cref="ImagePathColumn"/>'s paths are relative to (null: as they are).</summary>
        public string? ImageFolder { get; set; }
    }

    private const string Component = "ResNet18Classifier";
    private readonly ResNetContext context;
    private readonly Options options;

    internal ResNet18ClassifierEstimator(ResNetContext context, Options options)
    {
        ArgumentNullException.ThrowIfNull(options.Weights);
        this.context = context;
        this.options = options;
    }

    private ResNetOutputs Outputs => new(options.FeaturesColumnName, options.ScoreColumnName, options.PredictedLabelColumnName);

    /// <inheritdoc/>
    public ResNet18ClassifierTransformer Fit(IDataView input) =>
        new(new ResNetScoring(context, options.Weights, options.InputColumnName, Outputs, options.BatchSize,
            new ScoringDevice(options.GpuDeviceId, options.FallbackToCpu), input, Component, options.Precision,
            ImageFileCheck.From(options.ImagePathColumn, options.ImageFolder)));

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ImageInput.Check(inputSchema, options.InputColumnName, options.Weights.Card.Preprocessing, Component);
        return OutputColumns.Add(inputSchema, Outputs, options.Weights.Card);
    }
}

/// <summary>The fitted <see cref="ResNet18ClassifierEstimator"/> (also what the ResNet18 trainer returns).</summary>
public sealed class ResNet18ClassifierTransformer : ResNet18TransformerBase
{
    internal ResNet18ClassifierTransformer(ResNetScoring scoring) : base(scoring) { }
}
