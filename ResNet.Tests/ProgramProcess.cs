using System.Diagnostics;
using System.Text;

namespace ResNet.Tests;

/// <summary>
/// The built <c>resnet</c> program run as a real child process (not in-process like <see cref="CliRunner"/>), for
/// what only a process shows: signals, exit statuses and peak memory. Output is collected as it comes.
/// </summary>
internal sealed class ProgramProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private ProgramProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The program's assembly, copied beside the tests by the project reference.</summary>
    public static string Assembly => Path.Combine(AppContext.BaseDirectory, "resnet.dll");

    /// <summary>
    /// Starts <c>resnet <paramref name="args"/></c>, optionally under another program (e.g. a memory meter), with
    /// SIGINT and SIGTERM at their default handling, as from a terminal. A shell without job control starts background
    /// commands (<c>.ci/run &amp;</c>, nohup jobs) with SIGINT ignored, every child inherits that, and .NET then leaves
    /// SIGINT ignored: the program never saw a test's Ctrl+C (seen: two SignalTests failed only when the test run itself
    /// was started in the background). env(1) resets the handling before it starts the program.
    /// </summary>
    public static ProgramProcess Start(IEnumerable<string> args, string? wrapper = null, IEnumerable<string>? wrapperArgs = null)
    {
        var info = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        info.ArgumentList.Add("--default-signal=INT,TERM");
        if (wrapper is not null) info.ArgumentList.Add(wrapper);
        foreach (string a in wrapperArgs ?? []) info.ArgumentList.Add(a);
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(Assembly);
        foreach (string a in args) info.ArgumentList.Add(a);
        return new ProgramProcess(Process.Start(info)!);
    }

    /// <summary>Everything written to standard output and error so far.</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>The process id.</summary>
    public int Id => process.Id;

    /// <summary>Waits until the output contains <paramref name="text"/>; fails the test with the output otherwise.</summary>
    public void WaitForOutput(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited) Assert.Fail($"resnet exited ({process.ExitCode}) before printing '{text}':\n{Output}");
            if (clock.Elapsed > timeout) Assert.Fail($"resnet did not print '{text}' in {timeout}:\n{Output}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Sends a signal (INT, TERM, ...) with kill(1), as a terminal or a container runtime would.</summary>
    public void Signal(string name) => Processes.Run("kill", $"-s {name} {process.Id}", Environment.CurrentDirectory);

    /// <summary>Waits for the exit and returns the status (128 + N when signal N ended the process).</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"resnet did not exit in {timeout}:\n{Output}");
        }
        process.WaitForExit(); // drains the output events
        return process.ExitCode;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.Dispose();
    }
}
