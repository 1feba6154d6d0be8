using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// A convolution and the BatchNorm after it, with the explicit padding <see cref="PaddingMode.SameUpper"/> needs.
/// The modules stay registered under their torchvision names in the block or model that owns them; this record
/// is how forward and the ONNX exporter walk them alike.
/// </summary>
internal sealed record ConvNorm(Conv2d Conv, TrackedBatchNorm2d Norm, long Stride, PaddingMode Padding)
{
    /// <summary>Creates the pair; kernel 3 and 7 pad to keep the size, 1×1 does not pad.</summary>
    public static ConvNorm Create(long inChannels, long outChannels, long kernel, long stride, PaddingMode padding) =>
        new(nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: StridedPadding.Symmetric(padding, kernel, stride), bias: false),
            new TrackedBatchNorm2d(outChannels), stride, padding);

    /// <summary>Kernel side.</summary>
    public long Kernel => Conv.weight!.shape[^1];

    /// <summary>BN(conv(pad(x))); on maps where one kernel tap per side meets real input, by that tap alone (<see cref="PaddingOnlyTaps"/>).</summary>
    public Tensor Forward(Tensor x)
    {
        var input = StridedPadding.Apply(x, StridedPadding.Explicit(Padding, Kernel, Stride));
        return Norm.call(PaddingOnlyTaps.Convolve(Conv, input) ?? Conv.call(input));
    }
}

/// <summary>
/// A residual block of He et al. 2015. Basic: conv3×3(stride)-BN-ReLU-conv3×3-BN. Bottleneck: conv1×1-BN-ReLU-
/// conv3×3(stride)-BN-ReLU-conv1×1(×4)-BN. The branch is added to the shortcut (<see cref="ShortcutKind"/>) and
/// passed through a ReLU. Field names equal torchvision's BasicBlock and Bottleneck so state dicts cross over.
/// </summary>
public sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly ConvNorm[] branch;
    private readonly ReLU relu;
    private readonly Sequential? downsample;
    /// <summary>
    /// The shortcut's weight in <c>y.add_(shortcut, one)</c>, held for the block's lifetime: TorchSharp's
    /// <c>add_(Tensor)</c> passes a temporary <see cref="Scalar"/> that a garbage collection can free mid-call
    /// (docs/reliability.md, "Long training runs").
    /// </summary>
    private readonly Scalar one = 1;

    /// <summary>Creates a basic block mapping <paramref name="inChannels"/> to <paramref name="outChannels"/>, with projection shortcuts.</summary>
    public ResidualBlock(long inChannels, long outChannels, long stride = 1, PaddingMode padding = PaddingMode.Symmetric)
        : this(inChannels, outChannels, stride, padding, BlockKind.Basic, ShortcutKind.Projection)
    {
    }

    /// <summary>
    /// Creates a block of <paramref name="kind"/> from <paramref name="inChannels"/> to a stage of <paramref name="width"/>
    /// filters (a bottleneck outputs <see cref="ResNetConfig.BottleneckExpansion"/>× as many).
    /// </summary>
    public ResidualBlock(long inChannels, long width, long stride, PaddingMode padding, BlockKind kind, ShortcutKind shortcut)
        : base(nameof(ResidualBlock))
    {
        OutChannels = kind == BlockKind.Bottleneck ? width * ResNetConfig.BottleneckExpansion : width;
        Stride = stride;
        branch = kind == BlockKind.Bottleneck
            ? [ConvNorm.Create(inChannels, width, 1, 1, padding), ConvNorm.Create(width, width, 3, stride, padding), ConvNorm.Create(width, OutChannels, 1, 1, padding)]
            : [ConvNorm.Create(inChannels, width, 3, stride, padding), ConvNorm.Create(width, width, 3, 1, padding)];
        for (int i = 0; i < branch.Length; i++)
        {
            register_module($"conv{i + 1}", branch[i].Conv);
            register_module($"bn{i + 1}", branch[i].Norm);
        }
        relu = nn.ReLU(inplace: true);
        register_module("relu", relu);
        bool reshapes = stride != 1 || inChannels != OutChannels;
        Shortcut = shortcut == ShortcutKind.None ? BlockShortcut.None
            : !reshapes ? BlockShortcut.Identity
            : shortcut == ShortcutKind.ZeroPad ? BlockShortcut.ZeroPad
            : BlockShortcut.Projection;
        if (Shortcut == BlockShortcut.ZeroPad && OutChannels < inChannels)
            throw new ArgumentException($"A zero-padding shortcut cannot reduce {inChannels} channels to {OutChannels}.");
        if (Shortcut == BlockShortcut.Projection)
        {
            Projection = ConvNorm.Create(inChannels, OutChannels, 1, stride, padding);
            downsample = nn.Sequential(("0", Projection.Conv), ("1", Projection.Norm));
            register_module("downsample", downsample);
        }
        ZeroChannels = Shortcut == BlockShortcut.ZeroPad ? OutChannels - inChannels : 0;
    }

    /// <summary>How this block's shortcut is computed.</summary>
    internal enum BlockShortcut { None, Identity, Projection, ZeroPad }

    /// <summary>This block's shortcut.</summary>
    internal BlockShortcut Shortcut { get; }

    /// <summary>The residual branch's convolutions in order; ReLU follows every one but the last.</summary>
    internal IReadOnlyList<ConvNorm> Branch => branch;

    /// <summary>The 1×1 projection of <see cref="BlockShortcut.Projection"/> shortcuts.</summary>
    internal ConvNorm? Projection { get; }

    /// <summary>Zero channels a <see cref="BlockShortcut.ZeroPad"/> shortcut appends.</summary>
    internal long ZeroChannels { get; }

    /// <summary>Stride of the block (1 or 2).</summary>
    internal long Stride { get; }

    /// <summary>Channels the block outputs.</summary>
    public long OutChannels { get; }

    /// <summary>True when the shortcut is a 1×1 projection rather than the identity.</summary>
    public bool HasProjection => Shortcut == BlockShortcut.Projection;

    /// <summary>The BatchNorm that closes the residual branch (zero-initialised on request).</summary>
    internal TrackedBatchNorm2d LastNorm => branch[^1].Norm;

    /// <summary>Option A's shortcut: every stride-th pixel, then zero channels after the input's.</summary>
    internal static Tensor ZeroPadShortcut(Tensor x, long stride, long zeroChannels)
    {
        var y = stride == 1 ? x : x[.., .., TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
        return nn.functional.pad(y, [0, 0, 0, 0, 0, zeroChannels]);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = x;
        for (int i = 0; i < branch.Length; i++)
        {
            y = branch[i].Forward(y);
            if (i < branch.Length - 1) y = relu.call(y);
        }
        var shortcut = Shortcut switch
        {
            BlockShortcut.Identity => x,
            BlockShortcut.Projection => downsample!.call(x),
            BlockShortcut.ZeroPad => ZeroPadShortcut(x, Stride, ZeroChannels),
            _ => null,
        };
        if (shortcut is not null) y = y.add_(shortcut, one);
        return relu.call(y).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var step in branch) { step.Conv.Dispose(); step.Norm.Dispose(); }
            relu.Dispose();
            downsample?.Dispose();
            one.Dispose();
        }
        base.Dispose(disposing);
    }
}
