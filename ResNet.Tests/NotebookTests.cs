using System.Text.Json;

namespace ResNet.Tests;

/// <summary>
/// Runs every notebook in notebooks/ headlessly with dotnet-repl (a local tool: <c>dotnet tool restore</c>), against
/// the library published where the notebooks' <c>#r</c> lines expect it, and checks that every cell ran and that the
/// run produced the kinds of output (text, PNG pictures) the committed notebook carries — so the committed outputs,
/// which notebooks/run-all.sh regenerates, stay what the notebook really produces.
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
            TimeSpan.FromMinutes(10));

        var committed = CodeCellOutputKinds(File.ReadAllText(Path.Combine(Notebooks, notebook)));
        var executed = CodeCellOutputKinds(File.ReadAllText(output));
        var errors = executed.SelectMany(c => c).Where(k => k.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        Assert.True(committed.Any(c => c.Count > 0), $"{notebook} is committed without outputs: run notebooks/run-all.sh {notebook} and commit it.");
        Assert.Equal(committed.Count, executed.Count);
        for (int i = 0; i < committed.Count; i++)
        {
            var missing = committed[i].Except(executed[i]).ToList();
            Assert.True(missing.Count == 0, $"{notebook}, code cell {i + 1}: the committed outputs have {string.Join(", ", missing)}, this run did not produce it.");
        }
    }

    /// <summary>For each code cell, the kinds of its outputs: <c>stdout</c>, a MIME type such as <c>image/png</c>, or <c>error: …</c>.</summary>
    private static List<HashSet<string>> CodeCellOutputKinds(string notebookJson)
    {
        using var document = JsonDocument.Parse(notebookJson);
        return document.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("cell_type").GetString() == "code")
            .Select(c => (c.TryGetProperty("outputs", out var outputs) ? outputs.EnumerateArray().ToArray() : []).SelectMany(Kinds).ToHashSet())
            .ToList();
    }

    private static IEnumerable<string> Kinds(JsonElement output) => output.GetProperty("output_type").GetString() switch
    {
        "stream" => [output.GetProperty("name").GetString()!],
        "error" => [$"error: {output}"],
        _ => output.TryGetProperty("data", out var data) ? data.EnumerateObject().Select(p => p.Name).ToArray() : [],
    };

    private static readonly object PublishLock = new();
    private static bool published;

    /// <summary>Publishes ResNet.MLNet with the native backends (notebooks/NotebookLib) to artifacts/notebook-lib, as notebooks/run-all.sh does.</summary>
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
