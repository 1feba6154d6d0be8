using ResNet.MLNet;

// In ML.NET's namespace, as ML.NET's own add-on packages put their catalog methods: `using Microsoft.ML;` finds them.
namespace Microsoft.ML;

/// <summary>Catalog extension methods: <c>ml.Transforms.ResNet18Featurizer</c>, <c>ml.Transforms.ResNet18Classifier</c>, <c>ml.MulticlassClassification.Trainers.ResNet18</c>.</summary>
public static class ResNet18Catalog
{
    /// <summary>
    /// The 512-d ResNet18 features of the images in <paramref name="inputColumnName"/>, as <c>Vector&lt;Single, 512&gt;</c>
    /// in <paramref name="outputColumnName"/>. See <see cref="ResNet18FeaturizerEstimator"/>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The features column to add.</param>
    /// <param name="inputColumnName">An image column (LoadImages), an encoded-bytes column (LoadRawImageBytes) or a pixel vector.</param>
    /// <param name="weights">The network, e.g. <c>ResNet18Weights.FromFile("resnet18.pt")</c>.</param>
    /// <param name="batchSize">Rows per ONNX Runtime call.</param>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.LoadImages("Image", imageFolder, "ImagePath")
    ///     .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.FromFile("resnet18.pt")))
    ///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    ///     .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"));
    /// </code>
    /// </example>
    public static ResNet18FeaturizerEstimator ResNet18Featurizer(this TransformsCatalog catalog, string outputColumnName,
        string inputColumnName, ResNet18Weights weights, int batchSize = 32) =>
        catalog.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options
        {
            OutputColumnName = outputColumnName, InputColumnName = inputColumnName, Weights = weights, BatchSize = batchSize,
        });

    /// <summary>The ResNet18 featurizer with all its options.</summary>
    public static ResNet18FeaturizerEstimator ResNet18Featurizer(this TransformsCatalog catalog, ResNet18FeaturizerEstimator.Options options) =>
        new(ContextOf(catalog), options);

    /// <summary>
    /// Classifies the images in <paramref name="inputColumnName"/>: adds <c>Score</c> (probabilities, slot names = class
    /// names) and key-typed <c>PredictedLabel</c> with the class names. See <see cref="ResNet18ClassifierEstimator"/>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="inputColumnName">An image column (LoadImages), an encoded-bytes column (LoadRawImageBytes) or a pixel vector.</param>
    /// <param name="weights">A trained network with class names in its model card.</param>
    /// <param name="scoreColumnName">The probabilities column.</param>
    /// <param name="predictedLabelColumnName">The predicted class column (key type).</param>
    /// <param name="batchSize">Rows per ONNX Runtime call.</param>
    /// <example>
    /// <code>
    /// var classify = ml.Transforms.LoadImages("Image", imageFolder, "ImagePath")
    ///     .Append(ml.Transforms.ResNet18Classifier("Image", ResNet18Weights.FromFile("fashion.pt")))
    ///     .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
    /// </code>
    /// </example>
    public static ResNet18ClassifierEstimator ResNet18Classifier(this TransformsCatalog catalog, string inputColumnName,
        ResNet18Weights weights, string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel", int batchSize = 32) =>
        catalog.ResNet18Classifier(new ResNet18ClassifierEstimator.Options
        {
            InputColumnName = inputColumnName, Weights = weights, ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName, BatchSize = batchSize,
        });

    /// <summary>The ResNet18 classifier with all its options.</summary>
    public static ResNet18ClassifierEstimator ResNet18Classifier(this TransformsCatalog catalog, ResNet18ClassifierEstimator.Options options) =>
        new(ContextOf(catalog), options);

    /// <summary>
    /// Fine-tunes a ResNet18 on the images in <paramref name="imageColumnName"/> and the key-typed labels in
    /// <paramref name="labelColumnName"/> inside <c>Fit</c> (TorchSharp), and returns a classifier transformer. See
    /// <see cref="ResNet18MulticlassTrainer"/>.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The label column: a key type whose values are the class names.</param>
    /// <param name="imageColumnName">An image column (LoadImages), an encoded-bytes column (LoadRawImageBytes) or a pixel vector.</param>
    /// <param name="options">Epochs, batch size, learning rate, initial weights, validation set …</param>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    ///     .Append(ml.Transforms.LoadImages("Image", imageFolder, "ImagePath"))
    ///     .Append(ml.MulticlassClassification.Trainers.ResNet18("Label", "Image",
    ///         new ResNet18TrainerOptions { Epochs = 5, BatchSize = 32, InitialWeights = ResNet18Weights.ImageNet }));
    /// </code>
    /// </example>
    public static ResNet18MulticlassTrainer ResNet18(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string imageColumnName = "Image", ResNet18TrainerOptions? options = null) =>
        new(ContextOf(catalog), labelColumnName, imageColumnName, options ?? new ResNet18TrainerOptions());

    /// <summary>The catalog's environment, for logging to the user's <c>MLContext.Log</c>, and an MLContext to build the stock transformers with.</summary>
    internal static ResNetContext ContextOf(object catalog) => new(MLNetInternals.EnvironmentOf(catalog), new MLContext());
}
