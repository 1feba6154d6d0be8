using ResNet.Training.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// The frozen part's activations of every sample, computed once — as ML.NET's <c>ImageClassificationTrainer</c> caches
/// its bottleneck — so that fine-tuning trains only the later stages and the head, for many epochs, at a fraction of the
/// cost of a full forward pass. A dataset of its own: samples are stage <see cref="Stage"/>'s outputs (the evaluation
/// transform's, without augmentation; a frozen backbone's BatchNorms use their running statistics), stored as float16
/// to halve the memory (layer3 at 224²: 100 KB per image). Train on it with <see cref="ResNetModel.InputStage"/> =
/// <see cref="Stage"/>.
/// </summary>
public sealed class FrozenFeatureCache : IDataset
{
    private readonly Half[] values;
    private readonly int[] labels;
    private readonly int sampleLength;

    private FrozenFeatureCache(IDataset source, int stage, long[] shape, Half[] values, int[] labels, SkippedFiles skipped)
    {
        ClassNames = source.ClassNames;
        Preprocessing = source.Preprocessing;
        Stage = stage;
        SampleShape = shape;
        this.values = values;
        this.labels = labels;
        sampleLength = (int)shape.Aggregate(1L, (a, b) => a * b);
        Skipped = skipped;
    }

    /// <summary>The frozen stage (1..4) whose outputs are cached.</summary>
    public int Stage { get; }

    /// <summary>
    /// Runs <paramref name="model"/> in evaluation mode through stage <paramref name="stage"/> over every readable
    /// sample of <paramref name="source"/>, on the model's device. <paramref name="progress"/> gets (samples done, samples in all).
    /// Unreadable samples are left out (the source's <see cref="IDataset.Skipped"/> says why).
    /// </summary>
    public static FrozenFeatureCache Build(ResNetModel model, int stage, IDataset source, int batchSize = 64, int workers = 2,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        if (stage < 1 || stage > model.StageCount)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Cache the output of stage 1..{model.StageCount}.");
        if (model.InputStage != 0) throw new InvalidOperationException("The model must take images (InputStage 0) to fill the cache.");
        var device = model.parameters().First().device;
        bool wasTraining = model.training;
        model.eval();
        long[]? shape = null;
        Half[] values = [];
        var labels = new List<int>();
        try
        {
            var loader = new DataLoader(source, batchSize, train: false, workers: workers);
            foreach (var batch in loader.Epoch(0, cancellation: cancellation))
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                using var activations = model.StageOutput(tensor(batch.Inputs, [batch.Count, .. source.SampleShape]).to(device), stage).cpu();
                if (shape is null)
                {
                    shape = activations.shape[1..];
                    values = new Half[checked(source.Count * (int)(activations.numel() / batch.Count))];
                }
                using var half = activations.to_type(ScalarType.Float16);
                half.data<Half>().CopyTo(values, labels.Count * (values.Length / source.Count));
                labels.AddRange(batch.Labels.Select(l => (int)l));
                progress?.Invoke(Math.Min((batch.Number + 1) * batchSize, source.Count), source.Count);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        if (shape is null) throw new InvalidDataException($"No readable samples to cache ({source.Skipped.Summary()}).");
        return new FrozenFeatureCache(source, stage, shape, values, labels.ToArray(), source.Skipped);
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

    /// <summary>Writes the cached activations of sample <paramref name="index"/>; <paramref name="augment"/> is ignored (the cache holds one view).</summary>
    public bool TryRead(int index, Random? augment, Span<float> dest)
    {
        var src = values.AsSpan(index * sampleLength, sampleLength);
        for (int i = 0; i < src.Length; i++) dest[i] = (float)src[i];
        return true;
    }
}
