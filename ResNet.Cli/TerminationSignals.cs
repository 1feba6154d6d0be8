using System.Runtime.InteropServices;

namespace ResNet.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM (what <c>docker stop</c> and Kubernetes send) for the whole program. The first signal
/// cancels <see cref="Token"/>: training finishes its step, writes a checkpoint and prints the <c>--resume</c> command;
/// other verbs stop at the next image batch without writing a partial output. A second signal ends the process at
/// once, with the signal's usual status (130 or 143): every file the program writes is replaced atomically, so what
/// is on disk is the last complete version.
/// </summary>
/// <remarks>
/// Why not System.CommandLine's own handling (<c>ProcessTerminationTimeout</c>): it registers its handlers only after
/// the action's task is created, and our actions run synchronously inside that call, so a signal during the work
/// found no handler and the runtime ended the process within milliseconds, saving nothing. Its handler also blocks
/// the signal thread while it waits, so a second Ctrl+C could not end a slow save.
/// </remarks>
internal sealed class TerminationSignals : IDisposable
{
    /// <summary>Exit status after SIGTERM stopped the work (128 + 15), as shells report it.</summary>
    public const int TerminatedExitCode = 143;

    private readonly CancellationTokenSource source = new();
    private readonly PosixSignalRegistration interrupt, terminate;
    private int count;

    private TerminationSignals()
    {
        interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Starts listening; dispose to restore the default behaviour.</summary>
    public static TerminationSignals Register() => new();

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => source.Token;

    /// <summary>The first signal received, if any.</summary>
    public PosixSignal? Received { get; private set; }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref count) > 1)
        {
            // Let the runtime end the process as the signal asks; files are written atomically, so none is half-written.
            Console.Error.WriteLine($"{Name(context.Signal)} again: stopping now, without saving.");
            context.Cancel = false;
            return;
        }
        context.Cancel = true;
        Received = context.Signal;
        Console.Error.WriteLine();
        string again = context.Signal == PosixSignal.SIGTERM ? "send it again" : "press Ctrl+C again";
        Console.Error.WriteLine($"{Name(context.Signal)}: stopping (training finishes its step and saves a checkpoint); {again} to stop at once without saving.");
        source.Cancel();
    }

    private static string Name(PosixSignal signal) => signal == PosixSignal.SIGTERM ? "SIGTERM" : "Ctrl+C";

    /// <inheritdoc/>
    public void Dispose()
    {
        interrupt.Dispose();
        terminate.Dispose();
        source.Dispose();
    }
}
