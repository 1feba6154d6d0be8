using System.Diagnostics;

namespace ResNet.Tests;

/// <summary>
/// Runs the reference scripts in ResNet.Tests/python with the system Python that has PyTorch, torchvision and PIL
/// (Debian packages installed by .ci/install-deps). A missing interpreter or module fails the test with that hint.
/// </summary>
internal static class PythonReference
{
    /// <summary>The interpreter with torch 1.13 / torchvision 0.14 (not a pyenv python3 that may come first on PATH).</summary>
    public const string Interpreter = "/usr/bin/python3";

    /// <summary>Runs <c>python/<paramref name="script"/></c> with <paramref name="args"/>; returns its standard output.</summary>
    public static string Run(string script, params string[] args)
    {
        const string hint = "The PyTorch reference tests need /usr/bin/python3 with torch, torchvision and PIL: run .ci/install-deps (as root).";
        if (!File.Exists(Interpreter)) Assert.Fail($"{Interpreter} not found. {hint}");
        var info = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "ResNet.Tests", "python", script));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            string err = stderr.Result;
            string extra = err.Contains("ModuleNotFoundError") || err.Contains("ImportError") ? " " + hint : "";
            Assert.Fail($"{script} {string.Join(' ', args)} failed with exit code {process.ExitCode}.{extra}\n{err}");
        }
        return stdout;
    }

    /// <summary>Reads a raw little-endian float32 file written by a script.</summary>
    public static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * 4);
        return values;
    }

    /// <summary>Writes floats as a raw little-endian float32 file for a script.</summary>
    public static void WriteFloats(string path, ReadOnlySpan<float> values) =>
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray());
}
