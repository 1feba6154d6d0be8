using Microsoft.ML;
using ResNet.Training.Onnx;

namespace ResNet.MLNet;

/// <summary>
/// Computes the 512-d penultimate features of a ResNet18 (global average pool, before the classifier) for an image
/// column: the transfer-learning featurizer. Output: <c>Vector&lt;Single, 512&gt;</c>.
/// </summary>
/// <remarks>
/// The input column holds an <see cref="Microsoft.ML.Data.MLImage"/> of any size (from <c>LoadImages</c>), encoded bytes
/// (from <c>LoadRawImageBytes</c>; in process only — such a model cannot be saved) or 3×Resize×Resize Single RGB planes of
/// 0–255 values (as <c>ExtractPixels</c> gives them). Images are resized (IsoCrop, centre) and cropped/normalised as the
/// weights' model card says. Rows are scored in batches of <see cref="Options.BatchSize"/> through ONNX Runtime.
/// </remarks>
/// <example>
/// <code>
/// var ml = new MLContext(seed: 1);
/// var pipeline = ml.Transforms.LoadImages("Image", imageFolder, "ImagePath")
///     .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.FromFile("resnet18.pt")))
///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
///     .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"));
/// var model = pipeline.Fit(trainData);
/// </code>
/// </example>
public sealed class ResNet18FeaturizerEstimator : IEstimator<ResNet18FeaturizerTransformer>
{
    /// <summary>Options of <see cref="ResNet18FeaturizerEstimator"/>.</summary>
    public sealed class Options
    {
        /// <summary>The column to write the features to.</summary>
        public string OutputColumnName { get; set; } = "Features";
        /// <summary>The image column (see the estimator's remarks for the types it may hold).</summary>
        public string InputColumnName { get; set; } = "Image";
        /// <summary>The network.</summary>
        public required ResNet18Weights Weights { get; set; }
        /// <summary>Rows per ONNX Runtime call.</summary>
        public int BatchSize { get; set; } = 32;
        /// <summary>
        /// <see cref="Precision.Float32"/> (the default) or <see cref="Precision.Int8"/>: the network quantized to int8
        /// when the estimator is fitted, its activation ranges calibrated on up to 128 rows of the data given to
        /// <c>Fit</c> (so fit on images like those you will score). Faster on CPUs, features within a cosine of 0.99
        /// of float32; see docs/onnx.md.
        /// </summary>
        /// <example><code>new ResNet18FeaturizerEstimator.Options { Weights = weights, Precision = Precision.Int8 }</code></example>
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
        /// <example><code>new ResNet18FeaturizerEstimator.Options { Weights = weights, ImagePathColumn = "ImagePath", ImageFolder = imageFolder }</code></example>
        public string? ImagePathColumn { get; set; }
        /// <summary>The folder given to <c>LoadImages</c>, which <see cref="ImagePathColumn"/>'s paths are relative to (null: as they are).</summary>
        public string? ImageFolder { get; set; }
    }

    private readonly ResNetContext context;
    private readonly Options options;

    internal ResNet18FeaturizerEstimator(ResNetContext context, Options options)
    {
        ArgumentNullException.ThrowIfNull(options.Weights);
        this.context = context;
        this.options = options;
    }

    private ResNetOutputs Outputs => new(options.OutputColumnName, null, null);

    /// <inheritdoc/>
    public ResNet18FeaturizerTransformer Fit(IDataView input) =>
        new(new ResNetScoring(context, options.Weights, options.InputColumnName, Outputs, options.BatchSize,
            new ScoringDevice(options.GpuDeviceId, options.FallbackToCpu), input, Component, options.Precision,
            ImageFileCheck.From(options.ImagePathColumn, options.ImageFolder)));

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ImageInput.Check(inputSchema, options.InputColumnName, options.Weights.Card.Preprocessing, Component);
        return OutputColumns.Add(inputSchema, Outputs, options.Weights.Card);
    }

    private const string Component = "ResNet18Featurizer";
}

/// <summary>The fitted <see cref="ResNet18FeaturizerEstimator"/>: adds the 512-d features column.</summary>
public sealed class ResNet18FeaturizerTransformer : ResNet18TransformerBase
{
    internal ResNet18FeaturizerTransformer(ResNetScoring scoring) : base(scoring) { }
}
