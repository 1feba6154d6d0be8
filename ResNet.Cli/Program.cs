using System.CommandLine;

namespace ResNet.Cli;

/// <summary>The <c>resnet</c> command-line program: one verb per task, <c>--help</c> on each.</summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("ResNet18 in TorchSharp: train, evaluate, featurize, predict and export to ONNX. Without arguments: train on the bundled Fashion-MNIST subset and report the test accuracy.");
        CliAction.Set(root, (_, token) => MainJob.Run(token));
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(FeaturizeCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        // Ctrl+C: give a training run time to finish its step and write a checkpoint before the process ends.
        return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
    }
}
