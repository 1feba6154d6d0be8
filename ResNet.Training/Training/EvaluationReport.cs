namespace ResNet.Training.Training;

/// <summary>Writes an evaluation's per-class report (CSV) and confusion-matrix heat map (PNG).</summary>
public static class EvaluationReport
{
    /// <summary>Writes <c>PREFIX-report.csv</c> and <c>PREFIX-confusion.png</c> into <paramref name="folder"/>; returns both paths.</summary>
    public static (string Csv, string Png) Write(EvaluationResult result, IReadOnlyList<string> classNames, string folder, string prefix, string title)
    {
        Directory.CreateDirectory(folder);
        string csv = Path.Combine(folder, prefix + "-report.csv"), png = Path.Combine(folder, prefix + "-confusion.png");
        result.Confusion.WriteReport(csv, classNames);
        Plots.WriteConfusion(png, result.Confusion, classNames, title);
        return (csv, png);
    }

    /// <summary>A console table: class, support, recall (per-class accuracy), precision.</summary>
    public static string Table(EvaluationResult result, IReadOnlyList<string> classNames)
    {
        int width = Math.Max(5, classNames.Max(n => n.Length));
        var lines = new List<string> { $"  {"class".PadRight(width)}  support  recall  precision" };
        for (int c = 0; c < classNames.Count; c++)
            lines.Add(FormattableString.Invariant(
                $"  {classNames[c].PadRight(width)}  {result.Confusion.Support(c),7}  {result.Confusion.Recall(c),6:F3}  {result.Confusion.Precision(c),9:F3}"));
        return string.Join(Environment.NewLine, lines);
    }
}
