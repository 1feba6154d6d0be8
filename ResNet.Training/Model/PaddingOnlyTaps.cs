using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// Convolves feature maps so small that one kernel tap per side meets real input, as the pointwise convolution by
/// that tap: the same function (the other taps add exact zeros and get zero gradients) with a fraction of the work.
/// </summary>
/// <remarks>
/// At 32² input (the main job) the ImageNet stem leaves layer4 with 1×1 maps, where a 3×3 convolution with padding 1 is
/// a 1×1 convolution by its centre tap, yet libtorch's oneDNN kernels compute all nine taps. Measured on a 2-core AMD
/// EPYC (Zen 4), 512 channels, batch 128, forward and backward, two threads (<c>benchmarks/training/StepProfile --
/// --small-maps</c>): 12.3–14.0 ms with the full kernel against 6.3–7.8 ms with the centre tap alone. Where more than
/// one tap per side stays live there was nothing to win: layer4's first convolution (2×2 maps, stride 2, a 2×2 kernel
/// left) took 10.1–10.6 ms against 9.5–10.9, so such convolutions keep the whole kernel; on 2×2 maps with stride 1
/// every tap meets real input. The training program at 32² (<c>resnet train --data
/// fashion-mnist:data/fashion-mnist-small --epochs 2 --val-split 0.5 --threads 1 --workers 1</c>, builds with and
/// without this at the same time, each pinned to a core of its own, cores swapped every round, six rounds): 1.00–1.16×
/// the images per second (median 1.12×), and the main job ends at 0.884 (0.882 before). The results equal the full
/// kernel's up to float32 summation order (<c>ModelTests</c>). A convolution computed here does not run its <see
/// cref="Conv2d"/> module, so that module's own forward hooks do not fire for it.
/// </remarks>
internal static class PaddingOnlyTaps
{
    /// <summary>
    /// Along one side of the kernel: the taps <c>[First, Last]</c> that meet real input at some output position, and
    /// the symmetric padding that keeps every output's window where it was; null when all taps do, or when leaving
    /// the others out would change the output size.
    /// </summary>
    internal static (long First, long Last, long Padding)? LiveTaps(long inputSize, long kernel, long stride, long padding)
    {
        long outputs = (inputSize + 2 * padding - kernel) / stride + 1;
        long first = kernel, last = -1;
        for (long tap = 0; tap < kernel; tap++)
        {
            for (long o = 0; o < outputs; o++)
            {
                long at = o * stride - padding + tap;
                if (at < 0 || at >= inputSize) continue;
                first = Math.Min(first, tap);
                last = tap;
                break;
            }
        }
        if (last < 0 || (first == 0 && last == kernel - 1)) return null;
        long trimmedPadding = padding - first, trimmedKernel = last - first + 1;
        if ((inputSize + 2 * trimmedPadding - trimmedKernel) / stride + 1 != outputs) return null;
        return (first, last, trimmedPadding);
    }

    /// <summary>
    /// <paramref name="conv"/> applied to <paramref name="x"/> as the pointwise convolution by its one live tap; null
    /// unless exactly one tap per side meets real input (then call the module).
    /// </summary>
    public static Tensor? Convolve(Conv2d conv, Tensor x) =>
        LiveWindow(conv, x) is { } live && live.Rows.First == live.Rows.Last && live.Columns.First == live.Columns.Last
            ? ByTaps(conv, x, live)
            : null;

    /// <summary>
    /// <paramref name="conv"/> applied to <paramref name="x"/> by its live taps however many there are; null when every
    /// tap of a side meets real input. The model takes only the single-tap case (<see cref="Convolve"/>); this one lets
    /// <c>StepProfile -- --small-maps</c> measure the others.
    /// </summary>
    internal static Tensor? ConvolveByLiveTaps(Conv2d conv, Tensor x) => LiveWindow(conv, x) is { } live ? ByTaps(conv, x, live) : null;

    private static ((long First, long Last, long Padding) Rows, (long First, long Last, long Padding) Columns)? LiveWindow(Conv2d conv, Tensor x)
    {
        var (kernel, stride, padding) = (conv.kernel_size, conv.stride, conv.padding);
        if (x.ndim != 4 || padding is null || conv.padding_mode != PaddingModes.Zeros || conv.dilation.Any(d => d != 1)) return null;
        return LiveTaps(x.shape[2], kernel[0], stride[0], padding[0]) is { } rows && LiveTaps(x.shape[3], kernel[1], stride[1], padding[1]) is { } columns
            ? (rows, columns)
            : null;
    }

    private static Tensor ByTaps(Conv2d conv, Tensor x, ((long First, long Last, long Padding) Rows, (long First, long Last, long Padding) Columns) live)
    {
        var (rows, columns) = live;
        // A view of the weight: autograd passes the gradient back to the live taps, zero to the rest.
        using var taps = conv.weight![.., .., TensorIndex.Slice(rows.First, rows.Last + 1), TensorIndex.Slice(columns.First, columns.Last + 1)];
        return nn.functional.conv2d(x, taps, conv.bias, conv.stride, [rows.Padding, columns.Padding], groups: conv.groups);
    }
}
