using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// Refuses CPU training that libtorch 2.10 would get wrong: on CPUs without AVX-512, its bundled oneDNN computes the
/// input gradient of a float32 convolution wrongly (garbage, sometimes NaN, varying from run to run) when the
/// convolution's channel count is not a multiple of 16.
/// </summary>
/// <remarks>
/// Found on an AVX2-only AMD EPYC (TorchSharp 0.107, libtorch 2.10): conv2d backward with 4, 8, 12 or 24 channels
/// differs from the same computation in float64 (and between runs), while 16, 32, 64 and more match exactly; the forward
/// pass and the weight gradients are right. <c>ONEDNN_MAX_CPU_ISA=AVX</c> makes oneDNN use kernels that are right but
/// about 4× slower for every layer, so it is the user's choice, not a default. Every ResNet of the paper (16/32/64
/// filters for CIFAR, 64–2048 for ImageNet) is unaffected; narrower custom networks are refused with this advice.
/// </remarks>
internal static class OneDnnGradientGuard
{
    /// <summary>The environment variable that selects oneDNN's instruction set.</summary>
    public const string IsaVariable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>Throws when training <paramref name="model"/> on <paramref name="device"/> would hit the bug.</summary>
    public static void Check(nn.Module model, Device device)
    {
        if (device.type != DeviceType.CPU || HasAvx512() || Environment.GetEnvironmentVariable(IsaVariable) is { Length: > 0 })
            return;
        // The first convolution sees the images, whose gradient is never computed.
        var affected = model.modules().OfType<Conv2d>().Skip(1)
            .Select(c => c.in_channels).Where(c => c % 16 != 0).Distinct().Order().ToArray();
        if (affected.Length > 0)
            throw new NotSupportedException(
                $"This network has convolutions with {string.Join(", ", affected)} input channels (not a multiple of 16). On CPUs " +
                "without AVX-512, libtorch 2.10 computes their gradients wrongly, so training would silently go wrong. Use widths " +
                $"that are multiples of 16, or set {IsaVariable}=AVX before starting (correct, but about 4× slower).");
    }

    private static bool HasAvx512()
    {
        try
        {
            return !OperatingSystem.IsLinux() || File.ReadLines("/proc/cpuinfo")
                .Any(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Contains(" avx512f", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return true; // cannot tell: do not refuse
        }
    }
}
