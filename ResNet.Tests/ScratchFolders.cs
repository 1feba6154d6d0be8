namespace ResNet.Tests;

/// <summary>Scratch folders deleted when the owning test class is disposed: checkpoints of ResNet18 are tens of MB each.</summary>
internal sealed class ScratchFolders : IDisposable
{
    private readonly List<string> folders = [];

    /// <summary>A new empty folder, deleted on <see cref="Dispose"/>.</summary>
    public string New()
    {
        string dir = TestPaths.NewTempDir();
        folders.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var dir in folders)
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
