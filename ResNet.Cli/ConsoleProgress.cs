using System.Globalization;
using ResNet.Training.Training;

namespace ResNet.Cli;

/// <summary>
/// Shows training progress: a live one-line bar (epoch, step, loss, accuracy, images/s, ETA) on a terminal, and plain
/// lines — an ETA after the first few steps, then four per epoch plus the epoch summary — when the output is redirected
/// to a file or pipe.
/// </summary>
internal sealed class ConsoleProgress(TextWriter output, bool live)
{
    private int lastWidth;
    private bool etaShown;

    /// <summary>Steps after which a redirected run prints its first ETA: enough to get past the first, slower steps, early enough to decide whether to wait.</summary>
    private const int FirstEtaStep = 5;

    /// <summary>A reporter for the console, live when standard output is a terminal.</summary>
    public static ConsoleProgress ForConsole() => new(Console.Out, !Console.IsOutputRedirected);

    /// <summary>Handles one report from the trainer.</summary>
    public void Report(TrainingProgress p)
    {
        switch (p.Phase)
        {
            case ProgressPhase.Step when live:
                Overwrite($"{Prefix(p)} {Bar(p.Step, p.StepsPerEpoch)} {p.Step}/{p.StepsPerEpoch} {Stats(p)}");
                break;
            case ProgressPhase.Step when !etaShown && p.GlobalStep >= FirstEtaStep:
                etaShown = true;
                output.WriteLine(FormattableString.Invariant($"{Prefix(p)} step {p.Step}/{p.StepsPerEpoch}: {Rate(p.ImagesPerSecond)} img/s, training ETA {Eta(p.Eta)} (validation and testing come on top)"));
                break;
            case ProgressPhase.Step:
                int every = Math.Max(1, p.StepsPerEpoch / 4);
                if (p.Step % every == 0 && p.Step < p.StepsPerEpoch)
                    output.WriteLine($"{Prefix(p)} step {p.Step}/{p.StepsPerEpoch} {Stats(p)}");
                break;
            case ProgressPhase.Validating when live:
                Overwrite($"{Prefix(p)} validating…");
                break;
            case ProgressPhase.EpochEnd when p.Metrics is { } m:
                if (live) Overwrite("");
                if (live) output.Write('\r');
                output.WriteLine(EpochLine(m, p));
                lastWidth = 0;
                break;
        }
    }

    /// <summary>The summary line of an epoch.</summary>
    public static string EpochLine(EpochMetrics m, TrainingProgress p)
    {
        var s = FormattableString.Invariant($"epoch {m.Epoch}/{p.Epochs}  train loss {m.TrainLoss:F4} acc {m.TrainAccuracy:F4}");
        if (m.ValTop1 is { } top1)
            s += FormattableString.Invariant($" | val loss {m.ValLoss:F4} top1 {top1:F4}") + (m.ValTop5 is { } t5 ? FormattableString.Invariant($" top5 {t5:F4}") : "");
        return s + FormattableString.Invariant($" | lr {m.LearningRate:G3}  {Rate(m.ImagesPerSecond)} img/s  {m.Seconds:F1} s  ETA {Eta(p.Eta)}");
    }

    private static string Prefix(TrainingProgress p) => $"epoch {p.Epoch}/{p.Epochs}";

    /// <summary>Images per second with a decimal below 100 (at 224² on a CPU, "12" against "13" was an 8 % step).</summary>
    private static string Rate(double imagesPerSecond) =>
        imagesPerSecond.ToString(imagesPerSecond < 100 ? "F1" : "F0", CultureInfo.InvariantCulture);

    private static string Stats(TrainingProgress p) => FormattableString.Invariant(
        $"loss {p.Loss:F4} acc {p.Accuracy:F4} lr {p.LearningRate:G3} {Rate(p.ImagesPerSecond)} img/s ETA {Eta(p.Eta)}");

    private static string Bar(int done, int total, int width = 24)
    {
        int filled = total == 0 ? width : (int)Math.Round(width * (double)done / total);
        return "[" + new string('#', filled) + new string('-', width - filled) + "]";
    }

    /// <summary>"m:ss" or "h:mm:ss".</summary>
    public static string Eta(TimeSpan t) =>
        t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);

    private void Overwrite(string line)
    {
        output.Write('\r' + line.PadRight(lastWidth));
        lastWidth = line.Length;
        output.Flush();
    }
}
