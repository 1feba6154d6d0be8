using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace ResNet.Training.Native;

/// <summary>
/// Loads the native backends this library runs on and, when the app references none, fails with the package to add.
/// The libraries depend on the managed TorchSharp and ONNX Runtime packages only; the app picks the native ones
/// (CPU or CUDA), as with Microsoft.ML.TorchSharp and ONNX Runtime. Call these at start-up to fail fast.
/// </summary>
public static class NativeBackends
{
    /// <summary>What to add when TorchSharp's native library is missing.</summary>
    public const string TorchSharpAdvice =
        "add a package reference to TorchSharp-cpu (or TorchSharp-cuda-linux / TorchSharp-cuda-windows for NVIDIA GPUs) to the app";

    /// <summary>What to add when ONNX Runtime's native library is missing.</summary>
    public const string OnnxRuntimeAdvice =
        "add a package reference to Microsoft.ML.OnnxRuntime (or Microsoft.ML.OnnxRuntime.Gpu for NVIDIA GPUs) to the app";

    private static volatile bool torchLoaded, onnxRuntimeLoaded;

    /// <summary>
    /// Loads TorchSharp's native library (libtorch) if it is not loaded yet. On Linux it also raises glibc malloc's
    /// mmap and trim thresholds for the process (to glibc's own dynamic maximum, which a Python process running PyTorch
    /// probably reaches early), so freed tensor memory is reused rather than returned to the kernel after every free; a
    /// user who sets any <c>MALLOC_*_</c> variable or malloc's <c>GLIBC_TUNABLES</c> keeps their own settings
    /// (docs/training.md, "Speed").
    /// </summary>
    /// <exception cref="InvalidOperationException">The app references no TorchSharp native package, or it did not load.</exception>
    /// <example><code>NativeBackends.EnsureTorchSharp(); // at start-up</code></example>
    public static void EnsureTorchSharp()
    {
        if (torchLoaded) return;
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e) when (IsNativeLoadFailure(e))
        {
            // Where the app has no native copy, TorchSharp copies one from the NuGet cache into a cpu/ folder during
            // the failed load; on an old libstdc++ that copy needs the Debian 12 fix too, and then a second try.
            if (LibStdCxxCompat.PatchCopies() == 0)
                throw Missing("TorchSharp", TorchSharpAdvice, e);
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception again) when (IsNativeLoadFailure(again))
            {
                throw Missing("TorchSharp", TorchSharpAdvice, again);
            }
        }
        GlibcMallocTuning.Apply();
        torchLoaded = true;
    }

    /// <summary>Loads ONNX Runtime's native library if it is not loaded yet.</summary>
    /// <exception cref="InvalidOperationException">The app references no ONNX Runtime native package, or it did not load.</exception>
    /// <example><code>NativeBackends.EnsureOnnxRuntime(); // at start-up</code></example>
    public static void EnsureOnnxRuntime()
    {
        if (onnxRuntimeLoaded) return;
        try
        {
            OrtEnv.Instance();
        }
        catch (Exception e) when (IsNativeLoadFailure(e))
        {
            throw Missing("ONNX Runtime", OnnxRuntimeAdvice, e);
        }
        onnxRuntimeLoaded = true;
    }

    /// <summary>
    /// The ways a missing or unloadable native library shows: TorchSharp's own NotSupportedException, the runtime's
    /// DllNotFoundException or EntryPointNotFoundException, either inside the TypeInitializationException of the
    /// class whose static constructor first called native code.
    /// </summary>
    internal static bool IsNativeLoadFailure(Exception e) => e switch
    {
        TypeInitializationException { InnerException: { } inner } => IsNativeLoadFailure(inner),
        DllNotFoundException or EntryPointNotFoundException or NotSupportedException or BadImageFormatException => true,
        _ => false,
    };

    /// <summary>The error an app sees: which backend, what to add, and the loader's own words for the other causes.</summary>
    internal static InvalidOperationException Missing(string backend, string advice, Exception cause) =>
        new($"{backend}'s native library could not be loaded: {advice}. (If it references one, the loader said: {Innermost(cause).Message})", cause);

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}
