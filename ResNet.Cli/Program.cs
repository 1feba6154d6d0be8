using System.CommandLine;
using System.Runtime.InteropServices;

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
        root.Subcommands.Add(DegradationCommand.Create());
        // Signals are ours (TerminationSignals says why), so System.CommandLine's handling is switched off.
        using var signals = TerminationSignals.Register();
        int code = root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, signals.Token)
            .GetAwaiter().GetResult();
        return code == CliAction.Cancelled && signals.Received == PosixSignal.SIGTERM ? TerminationSignals.TerminatedExitCode : code;
    }
}
