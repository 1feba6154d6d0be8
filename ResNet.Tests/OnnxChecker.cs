using System.Diagnostics;

namespace ResNet.Tests;

/// <summary>Runs onnx's full checker (Debian's python3-onnx, installed by .ci/install-deps) over exported files.</summary>
internal static class OnnxChecker
{
    private const string Python = "/usr/bin/python3";
    private const string Script =
        "import sys, onnx\n" +
        "for p in sys.argv[1:]:\n" +
        "    onnx.checker.check_model(onnx.load(p), full_check=True)\n" +
        "    print('ok', p)\n";

    /// <summary>Asserts that every file passes <c>onnx.checker.check_model(full_check=True)</c>, shape inference included.</summary>
    public static void AssertValid(params string[] paths)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        foreach (var p in paths) start.ArgumentList.Add(p);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {Python}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"onnx checker failed (exit {process.ExitCode}); is python3-onnx installed (.ci/install-deps)?\n{stderr}");
        Assert.Equal(paths.Length, stdout.Result.Split('\n').Count(l => l.StartsWith("ok ")));
    }
}
