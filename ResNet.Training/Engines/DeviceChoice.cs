using ResNet.Training.Native;
using TorchSharp;

namespace ResNet.Training.Engines;

/// <summary>Where to run: <c>auto</c> (CUDA when available, else CPU), <c>cpu</c>, or <c>cuda</c> (fail when unavailable).</summary>
public enum DeviceChoice
{
    /// <summary>CUDA when this build and machine have it, otherwise the CPU.</summary>
    Auto,
    /// <summary>The CPU.</summary>
    Cpu,
    /// <summary>A CUDA GPU; an error when none is usable.</summary>
    Cuda,
}

/// <summary>Turns a <see cref="DeviceChoice"/> into a TorchSharp device.</summary>
public static class TorchDevice
{
    /// <summary>Parses "auto", "cpu" or "cuda" (any case).</summary>
    public static DeviceChoice Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "cuda" or "gpu" => DeviceChoice.Cuda,
        _ => throw new ArgumentException($"Unknown device '{text}': use auto, cpu or cuda."),
    };

    /// <summary>Resolves the choice; <paramref name="gpuId"/> picks the GPU for CUDA.</summary>
    public static torch.Device Resolve(DeviceChoice choice, int gpuId = 0)
    {
        NativeBackends.EnsureTorchSharp();
        bool cuda = torch.cuda.is_available();
        switch (choice)
        {
            case DeviceChoice.Cpu:
                return torch.CPU;
            case DeviceChoice.Auto:
                return cuda ? new torch.Device(DeviceType.CUDA, gpuId) : torch.CPU;
            default:
                if (!cuda)
                    throw new InvalidOperationException(
                        "CUDA was requested but TorchSharp sees no usable GPU. Reference TorchSharp-cuda-linux or TorchSharp-cuda-windows on a machine with an NVIDIA driver, or choose the CPU or Auto device.");
                if (gpuId < 0 || gpuId >= torch.cuda.device_count())
                    throw new ArgumentException($"GPU {gpuId} does not exist: this machine has {torch.cuda.device_count()}.");
                return new torch.Device(DeviceType.CUDA, gpuId);
        }
    }
}
