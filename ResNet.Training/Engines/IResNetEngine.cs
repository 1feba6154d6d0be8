using ResNet.Training.Weights;

namespace ResNet.Training.Engines;

/// <summary>Features and logits for a batch, row-major: <c>Features[i * FeatureDim + j]</c>, <c>Logits[i * NumClasses + k]</c>.</summary>
public sealed record EngineOutput(float[] Features, float[] Logits, int BatchSize, int FeatureDim, int NumClasses)
{
    /// <summary>The features of row <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> FeaturesOf(int i) => Features.AsSpan(i * FeatureDim, FeatureDim);
    /// <summary>The logits of row <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> LogitsOf(int i) => Logits.AsSpan(i * NumClasses, NumClasses);
}

/// <summary>
/// One forward pass of a trained ResNet, whatever runs it (TorchSharp, ONNX Runtime). Every front door — the
/// command line, the ML.NET transforms, the notebooks — goes through this interface, so engines are interchangeable
/// and their parity is testable. Front doors that resize images feed <see cref="RunResized"/> and need not know
/// whether the engine crops and normalises in C# or inside its graph.
/// </summary>
public interface IResNetEngine : IDisposable
{
    /// <summary>Architecture, class names and preprocessing of the loaded model.</summary>
    ModelCard Card { get; }

    /// <summary>What runs the model and where, e.g. "TorchSharp on cpu".</summary>
    string Description { get; }

    /// <summary>
    /// Runs <paramref name="batchSize"/> preprocessed images (N×3×H×W floats, normalised as
    /// <see cref="ModelCard.Preprocessing"/> says) and returns their features and logits.
    /// </summary>
    EngineOutput Run(ReadOnlySpan<float> input, int batchSize);

    /// <summary>
    /// Runs <paramref name="batchSize"/> resized images: 3×Resize×Resize planes of 0–255 RGB values each, as
    /// <see cref="Imaging.ImageLoader"/> and ML.NET's ResizeImages + ExtractPixels give them. By default they are
    /// centre-cropped and normalised (<see cref="Imaging.Preprocessing.CropAndNormaliseBatch"/>)
    /// and passed to <see cref="Run"/>; an engine whose model does that itself overrides this.
    /// </summary>
    EngineOutput RunResized(ReadOnlySpan<float> pixels, int batchSize) =>
        Run(Card.Preprocessing.CropAndNormaliseBatch(pixels, batchSize), batchSize);
}
