using System.Diagnostics;

namespace ResNet.Tests;

/// <summary>Runs a program to completion and fails the test with its output when it fails.</summary>
internal static class Processes
{
    /// <summary>Runs <paramref name="fileName"/> and returns its standard output and error.</summary>
    public static string Run(string fileName, string arguments, string workingDirectory, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory, UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{fileName} {arguments} did not finish in {timeout ?? TimeSpan.FromMinutes(5)}");
        }
        string output = stdout.Result + stderr.Result;
        Assert.True(process.ExitCode == 0, $"{fileName} {arguments} failed ({process.ExitCode}):\n{output}");
        return output;
    }
}
