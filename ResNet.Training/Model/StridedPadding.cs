using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>Padding amounts for a convolution or pooling layer under a <see cref="PaddingMode"/>.</summary>
internal static class StridedPadding
{
    /// <summary>Padding the layer itself applies (symmetric), given its kernel.</summary>
    public static long Symmetric(PaddingMode mode, long kernel, long stride) =>
        mode != PaddingMode.Symmetric && stride > 1 ? 0 : kernel / 2;

    /// <summary>Explicit (left, right, top, bottom) padding applied before the layer, or null when none is needed.</summary>
    public static long[]? Explicit(PaddingMode mode, long kernel, long stride)
    {
        if (mode == PaddingMode.Symmetric || stride == 1) return null;
        long total = Math.Max(kernel - stride, 0);
        long smaller = total / 2, larger = total - smaller;
        var (before, after) = mode == PaddingMode.SameLower ? (larger, smaller) : (smaller, larger);
        return total == 0 ? null : [before, after, before, after];
    }

    /// <summary>Applies explicit padding when there is any.</summary>
    public static Tensor Apply(Tensor x, long[]? pad, double value = 0) =>
        pad is null ? x : nn.functional.pad(x, pad, TorchSharp.PaddingModes.Constant, value);
}
