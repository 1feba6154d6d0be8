using TorchSharp;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using static TorchSharp.torch;

namespace ResNet.Training.Engines;

/// <summary>Runs a <see cref="ResNetModel"/> with TorchSharp, in evaluation mode, on the CPU or a CUDA GPU.</summary>
public sealed class TorchSharpEngine : IResNetEngine
{
    private readonly ResNetModel model;
    private readonly Device device;
    private readonly bool ownsModel;

    /// <summary>Wraps <paramref name="model"/> (moved to <paramref name="device"/>); disposes it with the engine when <paramref name="ownsModel"/>.</summary>
    public TorchSharpEngine(ResNetModel model, ModelCard card, Device? device = null, bool ownsModel = true)
    {
        this.device = device ?? CPU;
        this.model = model;
        this.ownsModel = ownsModel;
        model.to(this.device);
        model.eval();
        Card = card with { Architecture = model.Config };
    }

    /// <summary>Loads a weights file (and its card) onto the chosen device.</summary>
    public static TorchSharpEngine FromFile(string weightsPath, DeviceChoice device = DeviceChoice.Auto, int gpuId = 0)
    {
        var (model, card) = WeightsFile.Load(weightsPath);
        return new TorchSharpEngine(model, card, TorchDevice.Resolve(device, gpuId));
    }

    /// <inheritdoc/>
    public ModelCard Card { get; }

    /// <inheritdoc/>
    public string Description => $"{Card.Architecture.Describe()}, TorchSharp on {device}";

    /// <inheritdoc/>
    public EngineOutput Run(ReadOnlySpan<float> input, int batchSize)
    {
        int crop = Card.Preprocessing.Crop;
        long expected = (long)batchSize * 3 * crop * crop;
        if (batchSize < 1 || input.Length != expected)
            throw new ArgumentException($"Expected {batchSize}×3×{crop}×{crop} = {expected} floats, got {input.Length}.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(input.ToArray(), new long[] { batchSize, 3, crop, crop }).to(device);
        var chunks = ResNetModel.InferenceChunks(x).Select(model.FeaturesAndLogits).ToList();
        var features = cat(chunks.Select(c => c.Features).ToList(), 0);
        var logits = cat(chunks.Select(c => c.Logits).ToList(), 0);
        return new EngineOutput(
            features.cpu().data<float>().ToArray(),
            logits.cpu().data<float>().ToArray(),
            batchSize, Card.Architecture.FeatureDim, Card.Architecture.NumClasses);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (ownsModel) model.Dispose();
    }
}
