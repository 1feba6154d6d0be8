namespace ResNet.Training.Model;

/// <summary>The first layers of the network.</summary>
public enum StemKind
{
    /// <summary>7×7/2 convolution and 3×3/2 max-pool, as in He et al. and torchvision (224² inputs).</summary>
    ImageNet,
    /// <summary>3×3/1 convolution and no max-pool, for 28–64 px inputs (CIFAR, Fashion-MNIST).</summary>
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

/// <summary>
/// The shape of a ResNet built from <see cref="ResidualBlock"/>s. <see cref="ResNet18(int, StemKind)"/> is the
/// configuration of the paper; blocks per stage and padding stay configurable so other layouts load too.
/// </summary>
public sealed record ResNetConfig
{
    /// <summary>Output classes of the final fully connected layer.</summary>
    public int NumClasses { get; init; } = 1000;
    /// <summary>Which stem the network starts with.</summary>
    public StemKind Stem { get; init; } = StemKind.ImageNet;
    /// <summary>Residual blocks in each of the four stages.</summary>
    public int[] BlocksPerStage { get; init; } = [2, 2, 2, 2];
    /// <summary>Filters of each stage; the last one is the feature dimension.</summary>
    public int[] Widths { get; init; } = [64, 128, 256, 512];
    /// <summary>Padding of strided layers.</summary>
    public PaddingMode Padding { get; init; } = PaddingMode.Symmetric;
    /// <summary>Start each block's last BatchNorm at γ = 0, so every block begins as the identity (Goyal et al. 2017).</summary>
    public bool ZeroInitResidual { get; init; }

    /// <summary>Size of the penultimate (pooled) feature vector.</summary>
    public int FeatureDim => Widths[^1];

    /// <summary>ResNet18: four stages of two blocks, 64→512 filters.</summary>
    public static ResNetConfig ResNet18(int numClasses = 1000, StemKind stem = StemKind.ImageNet) =>
        new() { NumClasses = numClasses, Stem = stem };

    /// <summary>Throws when the configuration cannot build a network.</summary>
    public void Validate()
    {
        if (NumClasses < 1) throw new ArgumentException($"NumClasses must be at least 1, not {NumClasses}.");
        if (BlocksPerStage.Length != Widths.Length || Widths.Length == 0)
            throw new ArgumentException($"BlocksPerStage ({BlocksPerStage.Length} stages) and Widths ({Widths.Length}) must have the same, non-zero length.");
        if (BlocksPerStage.Any(b => b < 1) || Widths.Any(w => w < 1))
            throw new ArgumentException("Every stage needs at least one block and one filter.");
    }
}
