using ResNet.Training.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// The frozen part's activations of every sample, computed once — as ML.NET's <c>ImageClassificationTrainer</c> caches
/// its bottleneck — so that fine-tuning trains only the later stages and the head, for many epochs, at a fraction of the
/// cost of a full forward pass. A dataset of its own: samples are stage <see cref="Stage"/>'s outputs (the evaluation
/// transform's; a frozen backbone's BatchNorms use their running statistics), stored as float16 to halve the memory
/// (layer3 at 224²: 100 KB per image and view). Train on it with <see cref="ResNetModel.InputStage"/> = <see cref="Stage"/>.
/// <para>
/// A cache of the training split can hold two views of each image, the image and its mirror, so that training keeps the
/// horizontal flip, the one augmentation that survives caching exactly; the random crops do not (they would need a view
/// per crop).
/// </para>
/// </summary>
public sealed class FrozenFeatureCache : IDataset
{
    // views[sample][view]: one array per view, so that a cache of many large activations never needs one array of more
    // than 2³¹ elements.
    private readonly Half[][][] views;
    private readonly int[] labels;

    private FrozenFeatureCache(IDataset source, int stage, long[] shape, Half[][][] views, int[] labels, SkippedFiles skipped)
    {
        ClassNames = source.ClassNames;
        Preprocessing = source.Preprocessing;
        Stage = stage;
        SampleShape = shape;
        this.views = views;
        this.labels = labels;
        Skipped = skipped;
        Mirrored = views.Length > 0 && views[0].Length == 2;
    }

    /// <summary>The frozen stage (1..4) whose outputs are cached.</summary>
    public int Stage { get; }

    /// <summary>Whether each sample's mirror image is cached too (see <see cref="TryRead"/>).</summary>
    public bool Mirrored { get; }

    /// <summary>
    /// Runs <paramref name="model"/> in evaluation mode through stage <paramref name="stage"/> over every readable
    /// sample of <paramref name="source"/>, on the model's device. <paramref name="progress"/> gets (samples done, samples in all).
    /// Unreadable samples are left out (the source's <see cref="IDataset.Skipped"/> says why). With
    /// <paramref name="mirrored"/> the activations of each image mirrored left-right are cached too (twice the caching
    /// time and memory), for a training split: <see cref="TryRead"/> then draws one of the two views per augmented read.
    /// </summary>
    public static FrozenFeatureCache Build(ResNetModel model, int stage, IDataset source, int batchSize = 64, int workers = 2,
        Action<int, int>? progress = null, CancellationToken cancellation = default, bool mirrored = false)
    {
        if (stage < 1 || stage > model.StageCount)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Cache the output of stage 1..{model.StageCount}.");
        if (model.InputStage != 0) throw new InvalidOperationException("The model must take images (InputStage 0) to fill the cache.");
        var device = model.parameters().First().device;
        bool wasTraining = model.training;
        model.eval();
        long[]? shape = null;
        var views = new List<Half[][]>();
        var labels = new List<int>();
        using var mirrorCorrection = mirrored ? MirrorCorrection(source.Preprocessing, device) : null;
        using Scalar one = 1; // held, not a temporary: see ResidualBlock.one
        try
        {
            var loader = new DataLoader(source, batchSize, train: false, workers: workers);
            foreach (var batch in loader.Epoch(0, cancellation: cancellation, reuseInputs: true))
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var inputs = batch.InputTensor(source.SampleShape).to(device);
                foreach (var chunk in ResNetModel.InferenceChunks(inputs))
                {
                    var own = model.StageOutput(chunk, stage);
                    shape ??= own.shape[1..];
                    var perView = new List<Half[][]> { Activations(own) };
                    if (mirrorCorrection is not null) perView.Add(Activations(model.StageOutput(chunk.flip(3).add_(mirrorCorrection, one), stage)));
                    for (int i = 0; i < chunk.shape[0]; i++) views.Add(perView.Select(v => v[i]).ToArray());
                }
                labels.AddRange(batch.Labels.Select(l => (int)l));
                progress?.Invoke(Math.Min((batch.Number + 1) * batchSize, source.Count), source.Count);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        if (shape is null) throw new InvalidDataException($"No readable samples to cache ({source.Skipped.Summary()}).");
        return new FrozenFeatureCache(source, stage, shape, views.ToArray(), labels.ToArray(), source.Skipped);
    }

    /// <summary>A batch's activations, one float16 array per sample.</summary>
    private static Half[][] Activations(Tensor activations)
    {
        using var half = activations.cpu().to_type(ScalarType.Float16);
        var all = half.data<Half>().ToArray();
        int count = (int)half.shape[0], length = all.Length / count;
        return Enumerable.Range(0, count).Select(i => all.AsSpan(i * length, length).ToArray()).ToArray();
    }

    /// <summary>
    /// What turns a mirrored normalised image into the normalised mirror image. The normalisation is
    /// <c>x·a[c] + b[pixel]</c> (b varies per pixel when a mean image is subtracted), so mirroring the normalised planes
    /// also mirrors b; adding <c>b − mirror(b)</c> puts it back. Zero without a mean image.
    /// </summary>
    private static Tensor MirrorCorrection(Preprocessing preprocessing, Device device)
    {
        var offset = new float[preprocessing.InputLength];
        preprocessing.Normalise(offset);
        using var b = tensor(offset, [1, 3, preprocessing.Crop, preprocessing.Crop]);
        using var mirrored = b.flip(3);
        return (b - mirrored).to(device);
    }

    /// <inheritdoc/>
    public int Count => labels.Length;
    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames { get; }
    /// <inheritdoc/>
    public Preprocessing Preprocessing { get; }
    /// <inheritdoc/>
    public SkippedFiles Skipped { get; }
    /// <inheritdoc/>
    public long[] SampleShape { get; }
    /// <inheritdoc/>
    public int LabelOf(int index) => labels[index];

    /// <summary>
    /// Writes the cached activations of sample <paramref name="index"/>: the image's own for evaluation
    /// (<paramref name="augment"/> null); for training, when the cache is <see cref="Mirrored"/>, the image's or its
    /// mirror's with probability 1/2 each, drawn from <paramref name="augment"/>.
    /// </summary>
    public bool TryRead(int index, Random? augment, Span<float> dest)
    {
        var sample = views[index];
        var src = sample[augment is null || sample.Length == 1 ? 0 : augment.Next(sample.Length)];
        for (int i = 0; i < src.Length; i++) dest[i] = (float)src[i];
        return true;
    }
}
