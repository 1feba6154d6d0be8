using System.CommandLine;
using System.Text.RegularExpressions;
using ResNet.Training.Training;

namespace ResNet.Cli;

/// <summary>Runs a verb's body so that expected failures print one clear line instead of a stack trace.</summary>
internal static class CliAction
{
    /// <summary>Exit code for a failure the user can fix (bad arguments, missing or unreadable files).</summary>
    public const int UserError = 1;
    /// <summary>Exit code when Ctrl+C stopped the work.</summary>
    public const int Cancelled = 130;

    /// <summary>Sets <paramref name="body"/> as the command's action, with error reporting.</summary>
    public static void Set(Command command, Func<ParseResult, CancellationToken, int> body) =>
        command.SetAction((parse, token) => Task.FromResult(Run(() => body(parse, token))));

    /// <summary>Runs <paramref name="body"/>, turning exceptions into a message on stderr and an exit code.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("stopped.");
            return Cancelled;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"error: {Describe(e)}");
            if (Environment.GetEnvironmentVariable("RESNET_DEBUG") == "1")
                Console.Error.WriteLine(e);
            return UserError;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        TypeInitializationException { InnerException: { } inner } => Describe(inner),
        ArgumentException or NonFiniteLossException => InFlags(e.Message),
        _ => e.Message,
    };

    /// <summary>The library names TrainingOptions' properties; the user typed these flags.</summary>
    private static readonly Dictionary<string, string> FlagOfOption = new()
    {
        [nameof(TrainingOptions.Epochs)] = "--epochs",
        [nameof(TrainingOptions.BatchSize)] = "--batch-size",
        [nameof(TrainingOptions.LearningRate)] = "--lr",
        [nameof(TrainingOptions.WeightDecay)] = "--weight-decay",
        [nameof(TrainingOptions.LabelSmoothing)] = "--label-smoothing",
        [nameof(TrainingOptions.WarmupEpochs)] = "--warmup",
        [nameof(TrainingOptions.ClipGradNorm)] = "--clip-grad",
    };

    private static readonly Regex OptionName = new($@"\b({string.Join("|", FlagOfOption.Keys)})\b");

    /// <summary>A library message in the command line's words: "BatchSize must be at least 2" becomes "--batch-size must be at least 2".</summary>
    internal static string InFlags(string message) => OptionName.Replace(message, m => FlagOfOption[m.Value]);
}
