using ResNet.Training.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// The ResNet family of He et al. 2015 ("Deep Residual Learning for Image Recognition") as <see cref="ResNetConfig"/>
/// describes it: stem, stages of <see cref="ResidualBlock"/>s (the first block of every stage after the first halves
/// the resolution), global average pooling and a fully connected layer. Module names equal torchvision's
/// (<c>conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc</c>) so a torchvision state dict loads strictly.
/// </summary>
public sealed class ResNetModel : nn.Module<Tensor, Tensor>
{
    private readonly ConvNorm stem;
    private readonly ReLU relu;
    private readonly MaxPool2d? maxpool;
    private readonly Sequential[] stages;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <summary>The configuration the network was built from.</summary>
    public ResNetConfig Config { get; private set; }

    /// <summary>
    /// The module name, after checking that TorchSharp's native library loads: the base constructor is the first native
    /// call (before the constructor's body), so a missing backend must be reported here to get the message that names
    /// the package to add rather than a bare <see cref="DllNotFoundException"/>.
    /// </summary>
    private static string NameAfterNativeCheck()
    {
        NativeBackends.EnsureTorchSharp();
        return nameof(ResNetModel);
    }

    /// <summary>Builds a randomly initialised network (He/Kaiming initialisation as torchvision does it).</summary>
    public ResNetModel(ResNetConfig config) : base(NameAfterNativeCheck())
    {
        config.Validate();
        Config = config;
        var w = config.Widths;
        bool imageNet = config.Stem == StemKind.ImageNet;
        stem = ConvNorm.Create(3, w[0], imageNet ? 7 : 3, imageNet ? 2 : 1, config.Padding);
        register_module("conv1", stem.Conv);
        register_module("bn1", stem.Norm);
        relu = nn.ReLU(inplace: true);
        register_module("relu", relu);
        if (imageNet)
        {
            maxpool = nn.MaxPool2d(3, stride: 2, padding: StridedPadding.Symmetric(config.Padding, 3, 2));
            register_module("maxpool", maxpool);
        }
        stages = new Sequential[w.Length];
        long channels = w[0];
        for (int s = 0; s < w.Length; s++)
        {
            var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int b = 0; b < config.BlocksPerStage[s]; b++)
            {
                var block = new ResidualBlock(channels, w[s], s > 0 && b == 0 ? 2 : 1, config.Padding, config.Block, config.Shortcut);
                channels = block.OutChannels;
                blocks.Add((b.ToString(), block));
            }
            stages[s] = nn.Sequential(blocks);
            register_module($"layer{s + 1}", stages[s]);
        }
        avgpool = nn.AdaptiveAvgPool2d(new long[] { 1, 1 });
        register_module("avgpool", avgpool);
        fc = nn.Linear(config.FeatureDim, config.NumClasses);
        register_module("fc", fc);
        Initialise();
    }

    /// <summary>ResNet18 for <paramref name="numClasses"/> classes.</summary>
    public static ResNetModel ResNet18(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        new(ResNetConfig.ResNet18(numClasses, stem));

    private void Initialise()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
                    break;
                case TrackedBatchNorm2d bn:
                    nn.init.ones_(bn.weight);
                    nn.init.zeros_(bn.bias);
                    break;
            }
        }
        if (Config.ZeroInitResidual)
            foreach (var block in Blocks)
                nn.init.zeros_(block.LastNorm.weight);
    }

    /// <summary>Every residual block, stage by stage.</summary>
    public IEnumerable<ResidualBlock> Blocks => stages.SelectMany(s => s.children().Cast<ResidualBlock>());

    /// <summary>The stem's convolution and BatchNorm (<c>conv1</c>, <c>bn1</c>), for the ONNX exporter.</summary>
    internal ConvNorm StemLayer => stem;

    /// <summary>The stem's max-pool (ImageNet stem only).</summary>
    internal bool HasMaxPool => maxpool is not null;

    /// <summary>The classifier head.</summary>
    public Linear Head => fc;

    /// <summary>The number of stages (layer1, layer2, …): 4 for the ImageNet ResNets, 3 for the CIFAR ones.</summary>
    public int StageCount => stages.Length;

    /// <summary>Output of each stage (layer1, layer2, …) for an input batch; for inspection and tests. On the CPU they have
    /// channels-last strides, as every activation of the network there (<see cref="ChannelsLastOnCpu"/>).</summary>
    public Tensor[] StageOutputs(Tensor x)
    {
        var outputs = new Tensor[stages.Length];
        var y = Stem(x);
        for (int i = 0; i < stages.Length; i++)
            outputs[i] = y = stages[i].call(y);
        return outputs;
    }

    private Tensor Stem(Tensor x)
    {
        var y = relu.call(stem.Forward(ChannelsLastOnCpu(x)));
        // -inf keeps explicit max-pool padding neutral, as the layer's own padding is.
        return maxpool is null ? y : maxpool.call(StridedPadding.Apply(y, StridedPadding.Explicit(Config.Padding, 3, 2), double.NegativeInfinity));
    }

    /// <summary>
    /// Where <see cref="forward"/> and <see cref="Features"/> start: 0 (the default) takes images; k = 1..stages takes the
    /// output of stage k (layer<i>k</i>), as <see cref="Training.FrozenFeatureCache"/> holds it, and runs only the later
    /// stages and the head. The weights are the same either way, so checkpoints stay whole.
    /// </summary>
    public int InputStage
    {
        get => inputStage;
        set => inputStage = value >= 0 && value <= stages.Length ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"InputStage is 0 (images) to {stages.Length} (layer{stages.Length}'s output).");
    }
    private int inputStage;

    /// <summary>The output of stage <paramref name="stage"/> (1..stages: layer1, layer2, …) for images <paramref name="x"/>
    /// (channels-last strides on the CPU, see <see cref="StageOutputs"/>).</summary>
    public Tensor StageOutput(Tensor x, int stage)
    {
        if (stage < 1 || stage > stages.Length) throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Stages are 1..{stages.Length}.");
        using var scope = NewDisposeScope();
        var y = Stem(x);
        foreach (var layer in stages.Take(stage)) y = layer.call(y);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Input pixels (height × width × images) per forward pass in inference on a CPU: 4 images at 224². libtorch's early
    /// stages at 224² are memory-bound there: measured on a 2-core AMD EPYC with <c>resnet featurize --weights
    /// mlnet-imagenet</c> over 600 images, batches of 4 ran at 31–35 img/s and batches of 64 at 12.5–12.8 img/s, because
    /// a few images' activations stay in the caches. Small inputs (32²) keep large chunks, where per-call costs matter more.
    /// </summary>
    public const int CpuInferencePixels = 4 * 224 * 224;

    /// <summary>
    /// <paramref name="x"/> (N×C×H×W) cut along the batch into chunks of about <see cref="CpuInferencePixels"/> input
    /// pixels on a CPU, whole on a GPU. For inference only (evaluation mode): in training mode BatchNorm's statistics
    /// would change with the chunk.
    /// </summary>
    public static Tensor[] InferenceChunks(Tensor x)
    {
        long images = Math.Max(1, CpuInferencePixels / (x.shape[^2] * x.shape[^1]));
        return x.device_type == DeviceType.CPU && x.shape[0] > images ? x.split(images) : [x];
    }

    /// <summary>The pooled penultimate features, N×<see cref="ResNetConfig.FeatureDim"/>.</summary>
    public Tensor Features(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = inputStage == 0 ? Stem(x) : ChannelsLastOnCpu(x);
        foreach (var stage in stages.Skip(inputStage)) y = stage.call(y);
        return avgpool.call(y).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>Features and logits from one forward pass.</summary>
    public (Tensor Features, Tensor Logits) FeaturesAndLogits(Tensor x)
    {
        var features = Features(x);
        return (features, fc.call(features));
    }

    /// <summary>Logits, N×NumClasses.</summary>
    public override Tensor forward(Tensor x)
    {
        using var features = Features(x);
        return fc.call(features);
    }

    /// <summary>Replaces the head with a freshly initialised one for <paramref name="numClasses"/> classes, keeping the backbone.</summary>
    public void ReplaceHead(int numClasses)
    {
        if (numClasses < 1) throw new ArgumentException($"numClasses must be at least 1, not {numClasses}.");
        // Swap the parameters rather than the module: the registered name "fc" stays, and so do torchvision's keys.
        using (no_grad())
        {
            var device = fc.weight.device;
            var fresh = nn.Linear(Config.FeatureDim, numClasses).to(device); // nn.Linear's own default initialisation
            fc.weight = new Parameter(fresh.weight.detach().clone());
            fc.bias = new Parameter(fresh.bias!.detach().clone());
            fresh.Dispose();
        }
        Config = Config with { NumClasses = numClasses };
    }

    /// <summary>
    /// Freezes the stem and stages 1..<paramref name="stage"/> (all stages: the whole backbone) and unfreezes the rest, so that
    /// only the later stages and the head train.
    /// </summary>
    public void FreezeThrough(int stage)
    {
        if (stage < 0 || stage > stages.Length)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"Freeze through stage 0 (nothing) to {stages.Length} (the whole backbone).");
        var trainable = new HashSet<Parameter>(stages.Cast<nn.Module>().Append(fc).Skip(stage).SelectMany(m => m.parameters()), ReferenceEqualityComparer.Instance);
        foreach (var p in parameters()) p.requires_grad = stage == 0 || trainable.Contains(p);
    }

    /// <summary>
    /// <paramref name="x"/> with channels-last strides on the CPU (a copy, unless it has them already); other devices keep
    /// it as it is (NCHW; not measured on GPUs here). Every later layer keeps its input's memory format and libtorch picks
    /// its kernels from the strides, so on the CPU the whole network runs the channels-last ones (oneDNN's NHWC
    /// convolutions; a vectorised max-pool where the NCHW one is scalar code). Measured on a 2-core AMD EPYC (Zen 4),
    /// forward and backward of a training step, both layouts alternated in one process, medians of eight: at 224² with
    /// batch 32 2,013–2,135 ms against 2,326–2,544 (three runs; the max-pool alone 89–92 ms against 207–222), at 64²
    /// with batch 128 703 against 750 ms, at 32² equal (156 ms). Values are NCHW's up to float32 summation order, shapes
    /// and indexing do not change, and TorchSharp's <c>data&lt;T&gt;()</c> reads such tensors in logical order; readers
    /// of raw memory call <c>contiguous()</c> first.
    /// </summary>
    internal static Tensor ChannelsLastOnCpu(Tensor x) =>
        x.device_type == DeviceType.CPU ? x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : x;

    /// <summary>Freezes (or unfreezes) every parameter except the head's.</summary>
    public void FreezeBackbone(bool freeze = true) => FreezeThrough(freeze ? stages.Length : 0);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            stem.Conv.Dispose(); stem.Norm.Dispose(); relu.Dispose(); maxpool?.Dispose();
            foreach (var stage in stages) stage.Dispose();
            avgpool.Dispose(); fc.Dispose();
        }
        base.Dispose(disposing);
    }
}
