using System.CommandLine;
using ResNet.Training.Engines;

namespace ResNet.Cli;

/// <summary>
/// <c>--device</c> and <c>--gpu-id</c>, the same for every verb that runs or trains a model: through
/// <see cref="EngineOptions"/> (featurize, predict) or straight on TorchSharp (train, evaluate).
/// </summary>
internal sealed class DeviceOptions
{
    public Option<string> Device { get; } = new("--device")
    {
        Description = "Where to run: auto (CUDA when available, else the CPU), cpu or cuda (an error when CUDA is unavailable).",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|cpu|cuda",
    };

    public Option<int> GpuId { get; } = new("--gpu-id")
    {
        Description = "Which CUDA GPU to use.",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(GpuId);
    }

    /// <summary>The parsed <c>--device</c>.</summary>
    public DeviceChoice Choice(ParseResult parse) => TorchDevice.Parse(parse.GetValue(Device) ?? "auto");

    /// <summary>The parsed <c>--gpu-id</c>.</summary>
    public int Gpu(ParseResult parse) => parse.GetValue(GpuId);
}
