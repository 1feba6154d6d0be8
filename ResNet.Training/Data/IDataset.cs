using ResNet.Training.Imaging;

namespace ResNet.Training.Data;

/// <summary>
/// A labelled image dataset that writes network-ready samples (normalised 3×S×S planes). Implementations must be
/// safe to read from several threads at once: the <see cref="DataLoader"/> decodes in background workers.
/// </summary>
public interface IDataset
{
    /// <summary>Number of samples.</summary>
    int Count { get; }
    /// <summary>Class names, in label order.</summary>
    IReadOnlyList<string> ClassNames { get; }
    /// <summary>How samples are prepared for evaluation; saved with the model.</summary>
    Preprocessing Preprocessing { get; }
    /// <summary>The label of sample <paramref name="index"/> (0 ≤ label &lt; number of classes).</summary>
    int LabelOf(int index);

    /// <summary>
    /// Writes sample <paramref name="index"/> into <paramref name="dest"/> (3 × Crop × Crop floats, normalised).
    /// With <paramref name="augment"/> null the evaluation transform is used, otherwise training augmentation drawn
    /// from it. Returns false when the sample cannot be read (a corrupt file, say); the dataset records why in
    /// <see cref="Skipped"/>.
    /// </summary>
    bool TryRead(int index, Random? augment, Span<float> dest);

    /// <summary>Files (or samples) that were skipped and why.</summary>
    SkippedFiles Skipped { get; }
    /// <summary>Shape of one sample: 3×Crop×Crop images, or a stage's activations (<see cref="Training.FrozenFeatureCache"/>).</summary>
    long[] SampleShape => [3, Preprocessing.Crop, Preprocessing.Crop];
}
