using ResNet.Training.Imaging;

namespace ResNet.Cli;

/// <summary>Turns <c>--images</c> arguments into image files: folders are searched recursively, files are taken as given.</summary>
internal static class ImageSources
{
    /// <summary>
    /// Files under each folder whose extension is in <see cref="ImageDecoder.Extensions"/> (any case; hidden files
    /// skipped), sorted by path, and every named file whatever its extension; duplicates removed, first order kept.
    /// </summary>
    public static List<string> Find(IEnumerable<string> inputs)
    {
        var found = new List<string>();
        var seen = new HashSet<string>(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        foreach (string input in inputs)
        {
            IEnumerable<string> files;
            if (Directory.Exists(input))
                files = Directory.EnumerateFiles(input, "*", new EnumerationOptions { RecurseSubdirectories = true })
                    .Where(f => ImageDecoder.Extensions.Contains(Path.GetExtension(f)))
                    .Order(StringComparer.Ordinal);
            else if (File.Exists(input))
                files = [input];
            else
                throw new FileNotFoundException($"--images: '{input}' is neither a file nor a folder.", input);
            foreach (string file in files)
                if (seen.Add(Path.GetFullPath(file))) found.Add(file);
        }
        return found;
    }
}
