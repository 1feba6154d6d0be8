namespace ResNet.Training.Training;

/// <summary>The process's peak resident memory (VmHWM of /proc/self/status on Linux).</summary>
public static class PeakMemory
{
    /// <summary>Peak resident set size in bytes, or null where /proc is not available.</summary>
    public static long? PeakRssBytes()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)
                && long.TryParse(line[6..].Trim().Split(' ')[0], out long kb))
                return kb * 1024;
        return null;
    }

    /// <summary>"1234 MiB", or "n/a".</summary>
    public static string Describe(long? bytes) => bytes is { } b ? $"{b / (1024 * 1024)} MiB" : "n/a";
}
