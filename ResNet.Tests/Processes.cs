using System.Diagnostics;

namespace ResNet.Tests;

/// <summary>Runs a program to completion and fails the test with its output when it fails.</summary>
internal static class Processes
{
    /// <summary>Runs <paramref name="fileName"/> and returns its standard output and error.</summary>
    public static string Run(string fileName, string arguments, string workingDirectory, TimeSpan? timeout = null)
    {
        var (exitCode, output) = Start(fileName, arguments, workingDirectory, timeout);
        Assert.True(exitCode == 0, $"{fileName} {arguments} failed ({exitCode}):\n{output}");
        return output;
    }

    /// <summary>Runs <paramref name="fileName"/>, which must fail, and returns its standard output and error.</summary>
    public static string RunExpectingFailure(string fileName, string arguments, string workingDirectory, TimeSpan? timeout = null)
    {
        var (exitCode, output) = Start(fileName, arguments, workingDirectory, timeout);
        Assert.True(exitCode != 0, $"{fileName} {arguments} succeeded but should have failed:\n{output}");
        return output;
    }

    private static (int ExitCode, string Output) Start(string fileName, string arguments, string workingDirectory, TimeSpan? timeout)
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
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
