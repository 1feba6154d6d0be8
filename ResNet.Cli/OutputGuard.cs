namespace ResNet.Cli;

/// <summary>
/// Checks a verb's output path before any work starts: it must not be one of the verb's inputs (compared after
/// resolving relative paths and symbolic links, so <c>./model.pt</c>, <c>../x/model.pt</c> and a link to it are the
/// same file), and it must be the kind of thing the verb writes (a file where a file goes, a folder where a folder
/// goes). Hard links are not detected: they are indistinguishable from separate files without the inode.
/// </summary>
internal static class OutputGuard
{
    private static readonly StringComparer PathComparer = OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>
    /// <paramref name="output"/> (given as <paramref name="option"/>) is a file to write: refuses a folder, a path
    /// below a file, and any of <paramref name="inputs"/> (null entries are ignored).
    /// </summary>
    public static void CheckFile(string option, string output, IEnumerable<string?> inputs)
    {
        if (Directory.Exists(output))
            throw new ArgumentException($"{option} {output} is a folder; give the name of a file to write (inside it, if you like).");
        CheckParentIsFolder(option, output);
        string real = RealPath(output);
        foreach (string input in inputs.OfType<string>())
            if (File.Exists(input) && PathComparer.Equals(real, RealPath(input)))
                throw new ArgumentException($"{option} {output} is also an input ({input}); writing it would destroy it. Choose another output name.");
    }

    /// <summary>
    /// <paramref name="output"/> is a folder to write into: refuses an existing file, and a folder that is, or lies
    /// inside, one of the input folders or files in <paramref name="inputs"/> (writing a run into the training data
    /// would add its files to the data).
    /// </summary>
    public static void CheckFolder(string option, string output, IEnumerable<string?> inputs)
    {
        if (File.Exists(output))
            throw new ArgumentException($"{option} {output} is a file; it must be a folder (new or existing).");
        CheckParentIsFolder(option, output);
        string real = RealPath(output);
        foreach (string input in inputs.OfType<string>())
        {
            if (!Directory.Exists(input) && !File.Exists(input)) continue;
            string source = RealPath(input);
            if (PathComparer.Equals(real, source) || real.StartsWith(Path.TrimEndingDirectorySeparator(source) + Path.DirectorySeparatorChar, PathComparer == StringComparer.Ordinal ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"{option} {output} is inside the input {input}; writing there would change the input. Choose a folder outside it.");
        }
    }

    /// <summary>The absolute path with every symbolic link along it resolved (the parts that do not exist yet kept as given).</summary>
    public static string RealPath(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string? parent = Path.GetDirectoryName(full);
        if (parent is null) return full;
        string resolved = Path.Combine(RealPath(parent), Path.GetFileName(full));
        FileSystemInfo info = Directory.Exists(resolved) ? new DirectoryInfo(resolved) : new FileInfo(resolved);
        if (info.LinkTarget is null) return resolved;
        // returnFinalTarget follows chains of links and throws on a loop.
        return info.ResolveLinkTarget(returnFinalTarget: true) is { } target ? RealPath(target.FullName) : resolved;
    }

    private static void CheckParentIsFolder(string option, string output)
    {
        for (string? dir = Path.GetDirectoryName(Path.GetFullPath(output)); dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(dir))
                throw new ArgumentException($"{option} {output}: {dir} is a file, so nothing can be written below it.");
    }
}
