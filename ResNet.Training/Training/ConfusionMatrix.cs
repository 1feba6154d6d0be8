namespace ResNet.Training.Training;

/// <summary>Counts of (true class, predicted class) pairs, with per-class precision and recall.</summary>
public sealed class ConfusionMatrix(int classes)
{
    /// <summary>Counts[true, predicted].</summary>
    public long[,] Counts { get; } = new long[classes, classes];
    /// <summary>Number of classes.</summary>
    public int Classes => classes;

    /// <summary>Adds one prediction.</summary>
    public void Add(int actual, int predicted) => Counts[actual, predicted]++;

    /// <summary>Samples of class <paramref name="c"/>.</summary>
    public long Support(int c) { long s = 0; for (int p = 0; p < classes; p++) s += Counts[c, p]; return s; }
    /// <summary>Samples predicted as class <paramref name="c"/>.</summary>
    public long Predicted(int c) { long s = 0; for (int a = 0; a < classes; a++) s += Counts[a, c]; return s; }
    /// <summary>Correct predictions of class <paramref name="c"/> / predictions of <paramref name="c"/> (0 when none).</summary>
    public double Precision(int c) => Predicted(c) == 0 ? 0 : (double)Counts[c, c] / Predicted(c);
    /// <summary>Correct predictions of class <paramref name="c"/> / samples of <paramref name="c"/> (0 when none).</summary>
    public double Recall(int c) => Support(c) == 0 ? 0 : (double)Counts[c, c] / Support(c);
    /// <summary>Harmonic mean of precision and recall.</summary>
    public double F1(int c) { double p = Precision(c), r = Recall(c); return p + r == 0 ? 0 : 2 * p * r / (p + r); }

    /// <summary>Writes a per-class report: class, support, correct, precision, recall, F1.</summary>
    public void WriteReport(string path, IReadOnlyList<string> classNames) => AtomicFile.Write(path, stream =>
    {
        using var w = new StreamWriter(stream, leaveOpen: true);
        w.WriteLine("class,support,correct,precision,recall,f1");
        for (int c = 0; c < classes; c++)
            w.WriteLine(FormattableString.Invariant(
                $"{Csv.Quote(classNames[c])},{Support(c)},{Counts[c, c]},{Precision(c):F4},{Recall(c):F4},{F1(c):F4}"));
    });
}
