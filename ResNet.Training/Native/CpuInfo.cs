namespace ResNet.Training.Native;

/// <summary>Fields of Linux's <c>/proc/cpuinfo</c> (first processor), the one reader for the CPU's name and ISA flags.</summary>
internal static class CpuInfo
{
    private const string Path = "/proc/cpuinfo";

    /// <summary>The value of the first line named <paramref name="name"/> ("model name", "flags"), or null where there is none (e.g. not Linux).</summary>
    public static string? Field(string name)
    {
        if (!File.Exists(Path)) return null;
        var line = File.ReadLines(Path).FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        return line is null ? null : line[(line.IndexOf(':') + 1)..].Trim();
    }
}
