using System.Collections.Concurrent;

namespace ResNet.Training.Data;

/// <summary>A thread-safe record of the files a dataset skipped and why, with a summary for the run log.</summary>
public sealed class SkippedFiles
{
    private readonly ConcurrentDictionary<string, string> reasons = new(StringComparer.Ordinal);

    /// <summary>Records that <paramref name="path"/> was skipped; the first reason given sticks.</summary>
    public void Add(string path, string reason) => reasons.TryAdd(path, reason);

    /// <summary>Number of skipped files.</summary>
    public int Count => reasons.Count;

    /// <summary>Skipped files with their reasons, sorted by path.</summary>
    public IReadOnlyList<(string Path, string Reason)> Entries =>
        reasons.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)).ToList();

    /// <summary>True when <paramref name="path"/> was skipped.</summary>
    public bool Contains(string path) => reasons.ContainsKey(path);

    /// <summary>One line per reason with its count, e.g. "3 skipped: 2 × the file is empty, 1 × not an image".</summary>
    public string Summary()
    {
        if (Count == 0) return "no files skipped";
        var groups = reasons.Values.GroupBy(r => r).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Count()} × {g.Key}");
        return $"{Count} file(s) skipped: {string.Join("; ", groups)}";
    }
}
