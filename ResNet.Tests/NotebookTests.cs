using System.Text.Json;

namespace ResNet.Tests;

/// <summary>
/// Runs every notebook in notebooks/ headlessly with dotnet-repl (a local tool: <c>dotnet tool restore</c>), against
/// the library published where the notebooks' <c>#r</c> lines expect it, and checks that every cell ran.
/// </summary>
public class NotebookTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private static readonly string Notebooks = Path.Combine(TestPaths.RepoRoot, "notebooks");

    public static TheoryData<string> All() => new(Directory.GetFiles(Notebooks, "*.ipynb").Select(Path.GetFileName).OfType<string>());

    [Theory]
    [MemberData(nameof(All))]
    public void Notebook_runs_every_cell_without_error(string notebook)
    {
        PublishLibrary();
        string output = Path.Combine(scratch.New(), "executed.ipynb");
        // dotnet-repl exits 2 when a cell fails; Processes.Run reports its output then.
        Processes.Run("dotnet", $"repl --run \"{notebook}\" --exit-after-run --output-path \"{output}\"", Notebooks,
            TimeSpan.FromMinutes(20));

        using var executed = JsonDocument.Parse(File.ReadAllText(output));
        var outputs = executed.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .SelectMany(c => c.GetProperty("outputs").EnumerateArray()).ToList();
        var errors = outputs.Where(o => o.GetProperty("output_type").GetString() == "error").Select(o => o.ToString()).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        string text = string.Join("", outputs.Where(o => o.TryGetProperty("text", out _))
            .SelectMany(o => o.GetProperty("text").EnumerateArray().Select(t => t.GetString())));
        Assert.Contains("test accuracy", text);
        Assert.Contains(outputs, o => o.TryGetProperty("data", out var data) && data.TryGetProperty("image/png", out _));
    }

    private static readonly object PublishLock = new();
    private static bool published;

    /// <summary>Publishes ResNet.MLNet with the native backends (notebooks/NotebookLib) to artifacts/notebook-lib, as the notebooks' README says.</summary>
    private static void PublishLibrary()
    {
        lock (PublishLock)
        {
            if (published) return;
            Processes.Run("dotnet", "publish notebooks/NotebookLib -c Release -r linux-x64 --self-contained false -o artifacts/notebook-lib",
                TestPaths.RepoRoot, TimeSpan.FromMinutes(10));
            published = true;
        }
    }
}
