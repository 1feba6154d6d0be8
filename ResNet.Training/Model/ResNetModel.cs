using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// ResNetModel of basic residual blocks (He et al. 2015, "Deep Residual Learning for Image Recognition").
/// Stem, four stages of <see cref="ResidualBlock"/>s (the first block of stages 2–4 halves the resolution),
/// global average pooling and a fully connected layer. Module names equal torchvision's
/// (<c>conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc</c>) so a torchvision state dict loads strictly.
/// </summary>
public sealed class ResNetModel : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly TrackedBatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d? maxpool;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;
    private readonly long[]? stemPad, poolPad;

    /// <summary>The configuration the network was built from.</summary>
    public ResNetConfig Config { get; private set; }

    /// <summary>Builds a randomly initialised network (He/Kaiming initialisation as torchvision does it).</summary>
    public ResNetModel(ResNetConfig config) : base(nameof(ResNetModel))
    {
        config.Validate();
        if (config.Widths.Length != 4)
            throw new ArgumentException("This network has four stages (layer1..layer4).");
        Config = config;
        var w = config.Widths;
        if (config.Stem == StemKind.ImageNet)
        {
            conv1 = nn.Conv2d(3, w[0], 7, stride: 2, padding: StridedPadding.Symmetric(config.Padding, 7, 2), bias: false);
            stemPad = StridedPadding.Explicit(config.Padding, 7, 2);
            maxpool = nn.MaxPool2d(3, stride: 2, padding: StridedPadding.Symmetric(config.Padding, 3, 2));
            poolPad = StridedPadding.Explicit(config.Padding, 3, 2);
        }
        else
        {
            conv1 = nn.Conv2d(3, w[0], 3, stride: 1, padding: 1, bias: false);
        }
        bn1 = new TrackedBatchNorm2d(w[0]);
        relu = nn.ReLU(inplace: true);
        layer1 = MakeStage(w[0], w[0], config.BlocksPerStage[0], 1, config.Padding);
        layer2 = MakeStage(w[0], w[1], config.BlocksPerStage[1], 2, config.Padding);
        layer3 = MakeStage(w[1], w[2], config.BlocksPerStage[2], 2, config.Padding);
        layer4 = MakeStage(w[2], w[3], config.BlocksPerStage[3], 2, config.Padding);
        avgpool = nn.AdaptiveAvgPool2d(new long[] { 1, 1 });
        fc = nn.Linear(w[3], config.NumClasses);
        RegisterComponents();
        Initialise();
    }

    /// <summary>ResNet18 for <paramref name="numClasses"/> classes.</summary>
    public static ResNetModel ResNet18(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        new(ResNetConfig.ResNet18(numClasses, stem));

    private static Sequential MakeStage(long inCh, long outCh, int blocks, long stride, PaddingMode padding)
    {
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int i = 0; i < blocks; i++)
            modules.Add((i.ToString(), new ResidualBlock(i == 0 ? inCh : outCh, outCh, i == 0 ? stride : 1, padding)));
        return nn.Sequential(modules);
    }

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
    public IEnumerable<ResidualBlock> Blocks =>
        new[] { layer1, layer2, layer3, layer4 }.SelectMany(s => s.children().Cast<ResidualBlock>());

    /// <summary>The classifier head.</summary>
    public Linear Head => fc;

    /// <summary>Output of each stage (layer1..layer4) for an input batch; for inspection and tests.</summary>
    public Tensor[] StageOutputs(Tensor x)
    {
        var outputs = new Tensor[4];
        var y = Stem(x);
        var stages = new[] { layer1, layer2, layer3, layer4 };
        for (int i = 0; i < 4; i++)
            outputs[i] = y = stages[i].forward(y);
        return outputs;
    }

    private Tensor Stem(Tensor x)
    {
        var y = relu.forward(bn1.forward(conv1.forward(StridedPadding.Apply(x, stemPad))));
        // -inf keeps explicit max-pool padding neutral, as the layer's own padding is.
        return maxpool is null ? y : maxpool.forward(StridedPadding.Apply(y, poolPad, double.NegativeInfinity));
    }

    /// <summary>
    /// Where <see cref="forward"/> and <see cref="Features"/> start: 0 (the default) takes images; k = 1..4 takes the
    /// output of stage k (layer<i>k</i>), as <see cref="Training.FrozenFeatureCache"/> holds it, and runs only the later
    /// stages and the head. The weights are the same either way, so checkpoints stay whole.
    /// </summary>
    public int InputStage
    {
        get => inputStage;
        set => inputStage = value is >= 0 and <= 4 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "InputStage is 0 (images) to 4 (layer4's output).");
    }
    private int inputStage;

    /// <summary>The output of stage <paramref name="stage"/> (1..4, layer1..layer4) for images <paramref name="x"/>.</summary>
    public Tensor StageOutput(Tensor x, int stage)
    {
        if (stage is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(stage), stage, "Stages are 1..4.");
        using var scope = NewDisposeScope();
        var y = Stem(x);
        foreach (var layer in new[] { layer1, layer2, layer3, layer4 }.Take(stage)) y = layer.forward(y);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The pooled penultimate features, N×<see cref="ResNetConfig.FeatureDim"/>.</summary>
    public Tensor Features(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = inputStage == 0 ? Stem(x) : x;
        foreach (var layer in new[] { layer1, layer2, layer3, layer4 }.Skip(inputStage)) y = layer.forward(y);
        return avgpool.forward(y).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>Features and logits from one forward pass.</summary>
    public (Tensor Features, Tensor Logits) FeaturesAndLogits(Tensor x)
    {
        var features = Features(x);
        return (features, fc.forward(features));
    }

    /// <summary>Logits, N×NumClasses.</summary>
    public override Tensor forward(Tensor x)
    {
        using var features = Features(x);
        return fc.forward(features);
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
    /// Freezes the stem and stages 1..<paramref name="stage"/> (4: the whole backbone) and unfreezes the rest, so that
    /// only the later stages and the head train.
    /// </summary>
    public void FreezeThrough(int stage)
    {
        if (stage is < 0 or > 4) throw new ArgumentOutOfRangeException(nameof(stage), stage, "Freeze through stage 0 (nothing) to 4 (the whole backbone).");
        var trainable = new HashSet<Parameter>(new nn.Module[] { layer1, layer2, layer3, layer4, fc }.Skip(stage).SelectMany(m => m.parameters()), ReferenceEqualityComparer.Instance);
        foreach (var p in parameters()) p.requires_grad = stage == 0 || trainable.Contains(p);
    }

    /// <summary>Freezes (or unfreezes) every parameter except the head's.</summary>
    public void FreezeBackbone(bool freeze = true) => FreezeThrough(freeze ? 4 : 0);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            conv1.Dispose(); bn1.Dispose(); relu.Dispose(); maxpool?.Dispose();
            layer1.Dispose(); layer2.Dispose(); layer3.Dispose(); layer4.Dispose();
            avgpool.Dispose(); fc.Dispose();
        }
        base.Dispose(disposing);
    }
}
