using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// Refuses CPU training that libtorch 2.10 would get wrong: on some CPUs its bundled oneDNN computes the input gradient
/// of a float32 convolution wrongly (garbage, sometimes NaN, varying from run to run) when the convolution's channel
/// count is not a multiple of 16.
/// </summary>
/// <remarks>
/// Found on an AMD EPYC with AVX-512 (TorchSharp 0.107, libtorch 2.10): conv2d backward with 4, 8, 12 or 24 channels
/// differs from the same computation in float64 (and between runs), while 16, 32, 64 and more match; the forward pass
/// and the weight gradients are right. An earlier Intel machine with AVX-512 computed them right, so the CPU's flags
/// do not tell, and a probe cannot either: the wrong results read stale memory, so a float32-vs-float64 check of one
/// small convolution sometimes passes on an affected CPU (seen: the probe passed, then training gave NaN at step 2).
/// So such widths are refused on every CPU unless the user has chosen oneDNN's instruction set:
/// <c>ONEDNN_MAX_CPU_ISA=AVX</c> gives kernels that are right but about 4× slower for every layer, so it is the
/// user's choice, not a default.
/// Every ResNet of the paper (16/32/64 filters for CIFAR, 64–2048 for ImageNet) is unaffected.
/// </remarks>
internal static class OneDnnGradientGuard
{
    /// <summary>The environment variable that selects oneDNN's instruction set.</summary>
    public const string IsaVariable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>Throws when training <paramref name="model"/> on <paramref name="device"/> would hit the bug.</summary>
    public static void Check(nn.Module model, Device device)
    {
        if (device.type != DeviceType.CPU || Environment.GetEnvironmentVariable(IsaVariable) is { Length: > 0 }) return;
        // The first convolution sees the images, whose gradient is never computed.
        var affected = model.modules().OfType<Conv2d>().Skip(1)
            .Select(c => c.in_channels).Where(c => c % 16 != 0).Distinct().Order().ToArray();
        if (affected.Length > 0)
            throw new NotSupportedException(
                $"This network has convolutions with {string.Join(", ", affected)} input channels (not a multiple of 16). On some " +
                "CPUs libtorch 2.10 computes their gradients wrongly, so training could silently go wrong. Use widths that are " +
                $"multiples of 16, or set {IsaVariable}=AVX before starting (correct everywhere, but about 4× slower).");
    }

    /// <summary>Whether a float32 3×3 convolution with <paramref name="channels"/> channels back-propagates as float64 does.</summary>
    internal static bool InputGradientIsRight(long channels)
    {
        using var scope = NewDisposeScope();
        using var gradients = enable_grad(); // the caller may be inside no_grad()
        var generator = new Generator(7);
        var x = randn(8, channels, 12, 12, generator: generator, dtype: float64);
        var kernel = randn(channels, channels, 3, 3, generator: generator, dtype: float64);
        var upstream = randn(8, channels, 12, 12, generator: generator, dtype: float64);
        Tensor InputGradient(ScalarType type)
        {
            var xi = x.to(type).detach().requires_grad_();
            (nn.functional.conv2d(xi, kernel.to(type), padding: [1, 1]) * upstream.to(type)).sum().backward();
            return xi.grad!.to(float64);
        }
        var reference = InputGradient(float64);
        double error = (InputGradient(float32) - reference).abs().max().item<double>();
        return error <= 1e-3 * reference.abs().max().item<double>(); // NaN fails this too
    }
}
