using System.Diagnostics;

namespace ResNet.Tests;

/// <summary>Runs the <c>resnet</c> program (ResNet.Training, copied beside the tests) as a separate process, as a user would.</summary>
internal static class CliRunner
{
    /// <summary>The exit code, standard output and standard error of <c>resnet args…</c>.</summary>
    public static (int ExitCode, string Out, string Error) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ResNet.Training.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Cannot start dotnet.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}
