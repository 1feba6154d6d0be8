using ResNet.Cli;

namespace ResNet.Tests;

/// <summary>
/// Runs the command-line program in-process (<see cref="Program.Main"/>) with standard output and error captured.
/// Console redirection is process-wide, so every in-process CLI run goes through this one lock.
/// </summary>
internal static class CliRunner
{
    private static readonly object Gate = new();

    /// <summary>Exit code, standard output and standard error of one run.</summary>
    public readonly record struct Result(int ExitCode, string Out, string Error);

    /// <summary>Runs <c>resnet <paramref name="args"/></c>.</summary>
    public static Result Run(params string[] args)
    {
        lock (Gate)
        {
            TextWriter stdout = Console.Out, stderr = Console.Error;
            var output = new StringWriter();
            var error = new StringWriter();
            Console.SetOut(output);
            Console.SetError(error);
            try
            {
                int code = Program.Main(args);
                return new Result(code, output.ToString(), error.ToString());
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
            }
        }
    }

    /// <summary>Runs with an environment variable set for the duration of the run.</summary>
    public static Result RunWithEnvironment(string variable, string? value, params string[] args)
    {
        lock (Gate)
        {
            string? before = Environment.GetEnvironmentVariable(variable);
            Environment.SetEnvironmentVariable(variable, value);
            try
            {
                return Run(args);
            }
            finally
            {
                Environment.SetEnvironmentVariable(variable, before);
            }
        }
    }
}
