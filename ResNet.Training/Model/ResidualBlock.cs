using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// The basic residual block of He et al. 2015: conv3×3(stride)-BN-ReLU-conv3×3-BN added to a shortcut, then ReLU.
/// The shortcut is the identity, or a 1×1 convolution (stride) + BN projection when the stride or the
/// number of channels changes. Field names equal torchvision's BasicBlock so state dicts cross over.
/// </summary>
public sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly TrackedBatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly TrackedBatchNorm2d bn2;
    private readonly Sequential? downsample;
    private readonly long[]? conv1Pad;

    /// <summary>Creates a block mapping <paramref name="inChannels"/> to <paramref name="outChannels"/>.</summary>
    public ResidualBlock(long inChannels, long outChannels, long stride = 1, PaddingMode padding = PaddingMode.Symmetric)
        : base(nameof(ResidualBlock))
    {
        conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: StridedPadding.Symmetric(padding, 3, stride), bias: false);
        conv1Pad = StridedPadding.Explicit(padding, 3, stride);
        bn1 = new TrackedBatchNorm2d(outChannels);
        relu = nn.ReLU(inplace: true);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = new TrackedBatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
            downsample = nn.Sequential(
                ("0", nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false)),
                ("1", new TrackedBatchNorm2d(outChannels)));
        RegisterComponents();
    }

    /// <summary>True when the shortcut is a 1×1 projection rather than the identity.</summary>
    public bool HasProjection => downsample is not null;

    /// <summary>The BatchNorm that closes the residual branch (zero-initialised on request).</summary>
    internal TrackedBatchNorm2d LastNorm => bn2;

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = downsample is null ? x : downsample.forward(x);
        var y = relu.forward(bn1.forward(conv1.forward(StridedPadding.Apply(x, conv1Pad))));
        y = bn2.forward(conv2.forward(y));
        return relu.forward(y.add_(identity)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            conv1.Dispose(); bn1.Dispose(); relu.Dispose(); conv2.Dispose(); bn2.Dispose();
            downsample?.Dispose();
        }
        base.Dispose(disposing);
    }
}
