using System.Buffers;
using ResNet.Training.Imaging;

namespace ResNet.Training.Data;

/// <summary>
/// Samples held in memory as bytes, already at the network's input size (Crop × Crop, 1 or 3 channel planes), with
/// labels: Fashion-MNIST and other IDX data, or any images a caller has prepared. Training augmentation is
/// pad+crop and flip; one channel is replicated to RGB.
/// </summary>
public sealed class InMemoryDataset : IDataset
{
    private readonly byte[] pixels;
    private readonly int[] labels;
    private readonly int channels, sampleLength;

    /// <summary>
    /// Wraps <paramref name="pixels"/>: <paramref name="labels"/>.Length samples of <paramref name="channels"/> planes
    /// of <c>preprocessing.Crop</c>² bytes each.
    /// </summary>
    public InMemoryDataset(byte[] pixels, int[] labels, int channels, IReadOnlyList<string> classNames,
        Preprocessing preprocessing, Augmentation? augmentation = null)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"Samples need 1 or 3 channels, not {channels}.");
        int size = preprocessing.Validated().Crop;
        if (preprocessing.Resize != size)
            throw new ArgumentException($"In-memory samples are stored at the input size: Resize ({preprocessing.Resize}) must equal Crop ({size}).");
        sampleLength = channels * size * size;
        if (pixels.Length != (long)labels.Length * sampleLength)
            throw new ArgumentException($"{labels.Length} samples of {channels}×{size}×{size} need {(long)labels.Length * sampleLength} bytes, not {pixels.Length}.");
        DatasetChecks.Labels(labels, classNames, "in-memory dataset");
        this.pixels = pixels;
        this.labels = labels;
        this.channels = channels;
        ClassNames = classNames;
        Preprocessing = preprocessing;
        Augmentation = augmentation ?? Augmentation.For(size);
    }

    /// <inheritdoc/>
    public int Count => labels.Length;
    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames { get; }
    /// <inheritdoc/>
    public Preprocessing Preprocessing { get; }
    /// <summary>The training augmentation.</summary>
    public Augmentation Augmentation { get; }
    /// <inheritdoc/>
    public SkippedFiles Skipped { get; } = new();
    /// <inheritdoc/>
    public int LabelOf(int index) => labels[index];

    /// <inheritdoc/>
    public bool TryRead(int index, Random? augment, Span<float> dest)
    {
        int size = Preprocessing.Crop, plane = size * size;
        var bytes = pixels.AsSpan(index * sampleLength, sampleLength);
        // The loader's workers run beside the training step's threads: a pooled buffer, not 12 KB of garbage per sample.
        var rented = ArrayPool<float>.Shared.Rent(sampleLength);
        try
        {
            var src = rented.AsSpan(0, sampleLength);
            for (int i = 0; i < src.Length; i++) src[i] = bytes[i];
            if (augment is null)
                for (int c = 0; c < 3; c++) src.Slice((channels == 1 ? 0 : c) * plane, plane).CopyTo(dest.Slice(c * plane, plane));
            else
                Augmentation.ApplyToPlanes(src, channels, size, augment, dest);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
        Preprocessing.Normalise(dest[..Preprocessing.InputLength]);
        return true;
    }
}
