namespace ResNet.Training.Model;

/// <summary>The first layers of the network.</summary>
public enum StemKind
{
    /// <summary>7×7/2 convolution and 3×3/2 max-pool, as in He et al. and torchvision (224² inputs).</summary>
    ImageNet,
    /// <summary>
    /// 3×3/1 convolution and no max-pool, for 28–64 px inputs (CIFAR, Fashion-MNIST). With 16 filters
    /// (<see cref="ResNetConfig.Widths"/>[0] = 16) it is the stem of the paper's CIFAR-10 networks.
    /// </summary>
    Small,
}

/// <summary>How strided convolutions and the max-pool pad their input.</summary>
public enum PaddingMode
{
    /// <summary>PyTorch's symmetric padding of kernel/2 on every side.</summary>
    Symmetric,
    /// <summary>
    /// ONNX SAME_UPPER (TensorFlow's "same"): strided layers pad less before than after, so that an even
    /// input of size n gives n/stride outputs.
    /// </summary>
    SameUpper,
    /// <summary>
    /// ONNX SAME_LOWER (CNTK's auto-padding): strided layers pad more before than after (7×7/2: 3 before, 2 after;
    /// 3×3/2: 1 before, 0 after), so that an even input of size n gives n/stride outputs. ML.NET's CNTK ResNet18
    /// (<c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>) is padded so.
    /// </summary>
    SameLower,
}

/// <summary>The residual block a network is built from.</summary>
public enum BlockKind
{
    /// <summary>Two 3×3 convolutions (ResNet-18/34 and the CIFAR networks); output channels = width.</summary>
    Basic,
    /// <summary>1×1 reduce, 3×3 (carrying the stride, as torchvision's "v1.5"), 1×1 expand by 4 (ResNet-50/101/152).</summary>
    Bottleneck,
}

/// <summary>What a block adds its residual branch to.</summary>
public enum ShortcutKind
{
    /// <summary>
    /// The paper's option B: identity where the shape stays, a 1×1 convolution + BatchNorm projection
    /// (torchvision's <c>downsample</c>) where the stride or the channel count changes.
    /// </summary>
    Projection,
    /// <summary>
    /// The paper's option A, used for its CIFAR-10 networks: identity where the shape stays; otherwise the input is
    /// subsampled by the stride and the extra channels are zeros (appended after the input's). Parameter-free.
    /// </summary>
    ZeroPad,
    /// <summary>No shortcut: the "plain" network of the same depth (the paper's degradation experiment).</summary>
    None,
}

/// <summary>
/// The shape of any ResNet of He et al. 2015: a stem, stages of residual blocks (the first block of every stage after
/// the first halves the resolution), global average pooling and a fully connected layer. Named configurations:
/// <see cref="ResNet18"/> (the default), <see cref="ResNet34"/>, <see cref="ResNet50"/> (torchvision's layouts and
/// names) and the CIFAR-10 networks <see cref="ResNet20"/>, <see cref="ResNet32"/>, <see cref="ResNet56"/>;
/// <see cref="AsPlain"/> gives any of them without shortcuts.
/// </summary>
/// <example><code>
/// var resnet50 = ResNetConfig.ResNet50(numClasses: 10);
/// var plain20 = ResNetConfig.ResNet20().AsPlain();
/// using var model = new ResNetModel(resnet50);
/// </code></example>
public sealed record ResNetConfig
{
    /// <summary>Channel multiplier of a bottleneck block's last 1×1 convolution.</summary>
    public const int BottleneckExpansion = 4;

    /// <summary>Output classes of the final fully connected layer.</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Which stem the network starts with; the stem has <see cref="Widths"/>[0] filters.</summary>
    public StemKind Stem { get; init; } = StemKind.ImageNet;
    /// <summary>Residual blocks in each stage (<c>layer1</c>, <c>layer2</c>, …); any number of stages.</summary>
    public int[] BlocksPerStage { get; init; } = [2, 2, 2, 2];
    /// <summary>Filters of each stage (a bottleneck's inner width; it outputs <see cref="BottleneckExpansion"/> times as many).</summary>
    public int[] Widths { get; init; } = [64, 128, 256, 512];
    /// <summary>Basic or bottleneck blocks.</summary>
    public BlockKind Block { get; init; } = BlockKind.Basic;
    /// <summary>Projection (option B), zero-padding (option A) or no shortcuts (plain).</summary>
    public ShortcutKind Shortcut { get; init; } = ShortcutKind.Projection;
    /// <summary>Padding of strided layers.</summary>
    public PaddingMode Padding { get; init; } = PaddingMode.Symmetric;
    /// <summary>Start each block's last BatchNorm at γ = 0, so every block begins as the identity (Goyal et al. 2017).</summary>
    public bool ZeroInitResidual { get; init; }

    /// <summary>Output channels of a block of a stage of width <paramref name="width"/>.</summary>
    public int BlockOutput(int width) => Block == BlockKind.Bottleneck ? width * BottleneckExpansion : width;

    /// <summary>Size of the penultimate (pooled) feature vector.</summary>
    public int FeatureDim => BlockOutput(Widths[^1]);

    /// <summary>Weighted layers as the paper counts them: the stem, every convolution of the residual branches, the classifier.</summary>
    public int Depth => 2 + BlocksPerStage.Sum() * (Block == BlockKind.Bottleneck ? 3 : 2);

    /// <summary>ResNet-18: four stages of two basic blocks, 64→512 filters (torchvision's <c>resnet18</c>).</summary>
    public static ResNetConfig ResNet18(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        new() { NumClasses = numClasses, Stem = stem };

    /// <summary>ResNet-34: basic blocks [3, 4, 6, 3] (torchvision's <c>resnet34</c>).</summary>
    public static ResNetConfig ResNet34(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        ResNet18(numClasses, stem) with { BlocksPerStage = [3, 4, 6, 3] };

    /// <summary>ResNet-50: bottleneck blocks [3, 4, 6, 3], 2048 features (torchvision's <c>resnet50</c>).</summary>
    public static ResNetConfig ResNet50(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        ResNet34(numClasses, stem) with { Block = BlockKind.Bottleneck };

    /// <summary>
    /// The paper's CIFAR-10 network of depth 6n+2: a 16-filter 3×3 stem and three stages of n basic blocks with
    /// 16, 32 and 64 filters, option-A shortcuts unless <paramref name="shortcut"/> says otherwise.
    /// </summary>
    public static ResNetConfig Cifar(int depth, int numClasses = 10, ShortcutKind shortcut = ShortcutKind.ZeroPad)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentException($"A CIFAR ResNet has depth 6n+2 (20, 32, 44, 56, 110, …), not {depth}.");
        int n = (depth - 2) / 6;
        return new() { NumClasses = numClasses, Stem = StemKind.Small, BlocksPerStage = [n, n, n], Widths = [16, 32, 64], Shortcut = shortcut };
    }

    /// <summary>CIFAR ResNet-20 (0.27M parameters with option A).</summary>
    public static ResNetConfig ResNet20(int numClasses = 10, ShortcutKind shortcut = ShortcutKind.ZeroPad) => Cifar(20, numClasses, shortcut);
    /// <summary>CIFAR ResNet-32 (0.46M parameters with option A).</summary>
    public static ResNetConfig ResNet32(int numClasses = 10, ShortcutKind shortcut = ShortcutKind.ZeroPad) => Cifar(32, numClasses, shortcut);
    /// <summary>CIFAR ResNet-56 (0.85M parameters with option A).</summary>
    public static ResNetConfig ResNet56(int numClasses = 10, ShortcutKind shortcut = ShortcutKind.ZeroPad) => Cifar(56, numClasses, shortcut);

    /// <summary>The same network without shortcuts (same layers and parameters, except option B's projections).</summary>
    public ResNetConfig AsPlain() => this with { Shortcut = ShortcutKind.None };

    /// <summary>A short name: "ResNet-50 (bottleneck, ImageNet stem, 1000 classes)", "plain-20 (basic, Small stem, 10 classes)".</summary>
    public string Describe()
    {
        string widths = Widths.SequenceEqual([64, 128, 256, 512]) || Widths.SequenceEqual([16, 32, 64]) ? "" : $", widths [{string.Join(",", Widths)}]";
        string shortcut = Shortcut switch { ShortcutKind.ZeroPad => ", option-A shortcuts", _ => "" };
        string blocks = $"blocks [{string.Join(",", BlocksPerStage)}]";
        return $"{(Shortcut == ShortcutKind.None ? "plain" : "ResNet")}-{Depth} ({Block.ToString().ToLowerInvariant()} {blocks}{widths}{shortcut}, {Stem} stem, {NumClasses} {(NumClasses == 1 ? "class" : "classes")})";
    }

    /// <summary>Throws when the configuration cannot build a network; <see cref="ResNetModel"/> builds every configuration that passes.</summary>
    public void Validate()
    {
        if (NumClasses < 1) throw new ArgumentException($"NumClasses must be at least 1, not {NumClasses}.");
        if (BlocksPerStage is null || Widths is null || BlocksPerStage.Length != Widths.Length || Widths.Length == 0)
            throw new ArgumentException($"BlocksPerStage ({BlocksPerStage?.Length ?? 0} stages) and Widths ({Widths?.Length ?? 0}) must have the same, non-zero length.");
        if (BlocksPerStage.Any(b => b < 1) || Widths.Any(w => w < 1))
            throw new ArgumentException("Every stage needs at least one block and one filter.");
        if (!Enum.IsDefined(Stem) || !Enum.IsDefined(Block) || !Enum.IsDefined(Shortcut) || !Enum.IsDefined(Padding))
            throw new ArgumentException($"Unknown stem, block, shortcut or padding ({Stem}, {Block}, {Shortcut}, {Padding}).");
        if (Shortcut == ShortcutKind.ZeroPad)
        {
            int channels = Widths[0];
            foreach (int w in Widths)
            {
                if (BlockOutput(w) < channels)
                    throw new ArgumentException($"Zero-padding (option A) shortcuts cannot reduce channels ({channels} → {BlockOutput(w)}); use Projection shortcuts.");
                channels = BlockOutput(w);
            }
        }
    }
}
