namespace ResNet.Tests;

/// <summary>Where the repository and the shared datasets are (scratch folders: <see cref="ScratchFolders"/>).</summary>
internal static class TestPaths
{
    /// <summary>The folder holding ResNet.MLNet.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared folder beside the checkout (datasets), or RESNET_SHARED when set.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("RESNET_SHARED") is { Length: > 0 } s
        ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The small CIFAR-10 subset (10 classes × 500 train / 100 test PNGs).</summary>
    public static string Cifar10 => Dataset("cifar10-small");

    /// <summary>The Imagenette subset (10 ImageNet classes, 224² JPEGs).</summary>
    public static string Imagenette => Dataset("imagenette-small");

    private static string Dataset(string name)
    {
        string path = Path.Combine(Shared, "datasets", name);
        if (!Directory.Exists(path))
            throw new DirectoryNotFoundException($"Test data {path} is missing: the tests expect ../shared/datasets beside the checkout (or set RESNET_SHARED).");
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ResNet.MLNet.sln"))) return dir.FullName;
        throw new InvalidOperationException("Cannot find ResNet.MLNet.sln above the test binaries.");
    }
}
