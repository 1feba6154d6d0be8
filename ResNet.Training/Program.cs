using System.CommandLine;
using ResNet.Training.Cli;

namespace ResNet.Training;

/// <summary>The <c>resnet</c> command-line program: one verb per task, <c>--help</c> on each.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("ResNet18 in TorchSharp: train, evaluate, featurize, predict and export to ONNX.");
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(FeaturizeCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        return root.Parse(args).Invoke();
    }
}
