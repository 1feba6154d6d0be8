namespace ResNet.Tests;

/// <summary>
/// The one source of temporary folders in the tests: each test class (or fixture) that needs some holds one of these
/// and disposes it, so every folder is deleted when its owner is done (checkpoints of ResNet18 are tens of MB each).
/// </summary>
internal sealed class ScratchFolders : IDisposable
{
    private readonly List<string> folders = [];

    /// <summary>A new empty folder under the system temp directory, deleted on <see cref="Dispose"/>.</summary>
    public string New()
    {
        string dir = Path.Combine(Path.GetTempPath(), "resnet-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        lock (folders) folders.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        lock (folders)
        {
            foreach (var dir in folders)
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            folders.Clear();
        }
    }
}
