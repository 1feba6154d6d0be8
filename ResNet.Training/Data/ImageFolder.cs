namespace ResNet.Training.Data;

/// <summary>
/// Scans <c>root/&lt;class&gt;/**/*.{jpg,jpeg,png,bmp}</c> (extensions in any letter case). Files that cannot be
/// images (other extensions, empty files, content that is not JPEG/PNG/BMP) are skipped and recorded with the reason;
/// files that look right but fail to decode are skipped later, when read.
/// </summary>
public static class ImageFolder
{
    /// <summary>One image file and its label.</summary>
    public readonly record struct Entry(string Path, int Label);

    /// <summary>What a scan found.</summary>
    public sealed record ScanResult(string Root, string[] ClassNames, Entry[] Files, SkippedFiles Skipped);

    /// <summary>
    /// Scans <paramref name="root"/>. Class names are the sorted sub-folder names, or <paramref name="classNames"/> when
    /// given (a validation/test folder must use the training classes; it may lack some).
    /// </summary>
    public static ScanResult Scan(string root, IReadOnlyList<string>? classNames = null, SkippedFiles? skipped = null)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Image folder not found: {root}");
        skipped ??= new SkippedFiles();
        var folders = Directory.GetDirectories(root)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal).ToArray();
        if (folders.Length == 0)
        {
            bool loose = Directory.EnumerateFiles(root).Any(f => Imaging.ImageDecoder.Extensions.Contains(Path.GetExtension(f)));
            throw new InvalidDataException(loose
                ? $"{root} holds images but no class folders: put each class's images in its own folder, {root}/<class>/*.jpg."
                : $"{root} has no class folders: expected {root}/<class>/*.jpg (or .jpeg, .png, .bmp).");
        }
        string[] names;
        if (classNames is null)
        {
            names = folders.Select(Path.GetFileName).ToArray()!;
        }
        else
        {
            names = classNames.ToArray();
            var unknown = folders.Select(Path.GetFileName).Where(n => !names.Contains(n, StringComparer.Ordinal)).ToList();
            if (unknown.Count > 0)
                throw new InvalidDataException(
                    $"{root} has class folder(s) the model does not know: {string.Join(", ", unknown)}. Known classes: {string.Join(", ", names)}.");
        }
        var files = new List<Entry>();
        var emptyClasses = new List<string>();
        foreach (var folder in folders)
        {
            int label = Array.IndexOf(names, Path.GetFileName(folder));
            int before = files.Count;
            foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                if (Path.GetFileName(path).StartsWith('.')) continue;
                string? reason = Check(path);
                if (reason is null) files.Add(new Entry(path, label));
                else skipped.Add(path, reason);
            }
            if (files.Count == before) emptyClasses.Add(Path.GetFileName(folder));
        }
        if (classNames is null && emptyClasses.Count > 0)
            throw new InvalidDataException(
                $"{root}: class folder(s) with no usable images: {string.Join(", ", emptyClasses)} ({skipped.Summary()}). Add images or remove the folder(s).");
        if (classNames is null) DatasetChecks.Labels(files.Select(f => f.Label).ToArray(), names, root);
        if (files.Count == 0) throw new InvalidDataException($"{root}: no usable images ({skipped.Summary()}).");
        return new ScanResult(root, names, files.ToArray(), skipped);
    }

    /// <summary>Why <paramref name="path"/> cannot be an image, or null when its name and first bytes look right.</summary>
    public static string? Check(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (!Imaging.ImageDecoder.Extensions.Contains(ext)) return "not an image file name (.jpg, .jpeg, .png or .bmp expected)";
        Span<byte> head = stackalloc byte[8];
        int n;
        try
        {
            using var stream = File.OpenRead(path);
            if (stream.Length == 0) return "the file is empty";
            n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (IOException e)
        {
            return $"cannot be read ({e.Message})";
        }
        catch (UnauthorizedAccessException)
        {
            return "cannot be read (permission denied)";
        }
        head = head[..n];
        bool jpeg = head.Length >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
        bool png = head.Length >= 8 && head.SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
        bool bmp = head.Length >= 2 && head[0] == (byte)'B' && head[1] == (byte)'M';
        return jpeg || png || bmp ? null : "the content is not JPEG, PNG or BMP";
    }
}
