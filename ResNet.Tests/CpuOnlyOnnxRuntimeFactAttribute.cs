using Microsoft.ML.OnnxRuntime;

namespace ResNet.Tests;

/// <summary>
/// A fact about ONNX Runtime without a CUDA provider (the repository's default CPU build); where the provider is
/// present, xunit reports the test as skipped with the reason instead of letting it pass without checking anything.
/// </summary>
public sealed class CpuOnlyOnnxRuntimeFactAttribute : FactAttribute
{
    public CpuOnlyOnnxRuntimeFactAttribute()
    {
        if (OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            Skip = "ONNX Runtime has a CUDA provider here; this test checks what happens without one.";
    }
}
