namespace ResNet.Cli;

/// <summary>Class names from a text file, one per line in logit order (trailing blank lines ignored).</summary>
internal static class LabelsFile
{
    /// <summary>Reads <paramref name="path"/> and checks it names exactly <paramref name="numClasses"/> classes.</summary>
    public static string[] Read(string path, int numClasses)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--labels: {path} not found.", path);
        var lines = File.ReadAllLines(path).Select(l => l.Trim()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        int empty = lines.FindIndex(l => l.Length == 0);
        if (empty >= 0) throw new InvalidDataException($"--labels: {path} line {empty + 1} is empty; each line must name one class.");
        if (lines.Count != numClasses)
            throw new InvalidDataException($"--labels: {path} names {lines.Count} classes, but the model has {numClasses}.");
        return lines.ToArray();
    }
}
