using System.Diagnostics;
using System.Globalization;

namespace ResNet.Cli;

/// <summary>Progress of a long run on standard error: images done of the total and images per second, at most every two seconds.</summary>
internal sealed class ProgressLine(TextWriter error, string verb, int total)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private TimeSpan last;

    /// <summary>Reports <paramref name="done"/> images finished, if the last report is old enough.</summary>
    public void Report(int done)
    {
        if (clock.Elapsed - last < Interval) return;
        last = clock.Elapsed;
        error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{verb}: {done}/{total} images ({100.0 * done / total:F0}%), {done / clock.Elapsed.TotalSeconds:F1} img/s"));
    }

    /// <summary>The closing line.</summary>
    public void Finish(int done, int skipped)
    {
        double seconds = clock.Elapsed.TotalSeconds;
        string skips = skipped > 0 ? $"; skipped {skipped} unreadable image{(skipped == 1 ? "" : "s")} (named above)" : "";
        error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{verb}: {done} images in {seconds:F1} s ({done / Math.Max(seconds, 1e-9):F1} img/s){skips}"));
    }
}
