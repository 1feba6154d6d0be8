using ResNet.Training.Training;

namespace ResNet.Tests;

/// <summary>
/// Ctrl+C and SIGTERM against the real program: a real process, a real signal from kill(1). The first signal must let
/// training finish its step, write a mid-run checkpoint, print the --resume command and exit 130 (SIGINT) or 143
/// (SIGTERM); the resumed run must continue; a second signal must end the process at once with intact files.
/// </summary>
public sealed class SignalTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    /// <summary>Two CIFAR-10 classes of 48 training images: 12 steps of 8 per epoch.</summary>
    private string TinyData()
    {
        string root = scratch.New();
        foreach (string cls in new[] { "cat", "ship" })
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            foreach (string file in Directory.GetFiles(Path.Combine(TestPaths.Cifar10, "train", cls)).Order(StringComparer.Ordinal).Take(48))
                File.Copy(file, Path.Combine(root, cls, Path.GetFileName(file)));
        }
        return root;
    }

    private static string[] TrainArgs(string data, string run) =>
        ["train", "--data", data, "--stem", "small", "--epochs", "3", "--batch-size", "8", "--val-split", "0",
         "--workers", "1", "--threads", "1", "--output", run];

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void The_first_signal_saves_a_checkpoint_prints_the_resume_command_and_the_run_resumes(string signal, int status)
    {
        string data = TinyData(), run = Path.Combine(scratch.New(), "run");
        using (var training = ProgramProcess.Start(TrainArgs(data, run)))
        {
            training.WaitForOutput("step ", Patience);
            training.Signal(signal);
            int code = training.WaitForExit(Patience);
            string output = training.Output;
            Assert.True(code == status, $"exit {code}, expected {status}:\n{output}");
            Assert.Contains("interrupted: checkpoint saved to", output);
            Assert.Contains($"continue with: resnet train --resume --output {run}", output);
            var state = Checkpoint.ReadState(Checkpoint.Resolve(Trainer.CheckpointPath(run, Trainer.LastName))!);
            Assert.True(state.GlobalStep > 0, $"the checkpoint holds no training step:\n{output}");
            Assert.True(state.Epoch < 3, "the run was not interrupted");
        }

        // Resume just to the end of the first epoch, so the test stays short.
        using var resumed = ProgramProcess.Start(["train", "--resume", "--output", run, "--epochs", "1", "--threads", "1"]);
        int resumedCode = resumed.WaitForExit(Patience);
        Assert.True(resumedCode == 0, $"resume failed ({resumedCode}):\n{resumed.Output}");
        Assert.Contains("(resuming)", resumed.Output);
        Assert.Equal(1, Checkpoint.ReadState(Checkpoint.Resolve(Trainer.CheckpointPath(run, Trainer.LastName))!).Epoch);
    }

    [Fact]
    public void A_second_signal_stops_at_once_and_leaves_intact_files()
    {
        string data = TinyData(), run = Path.Combine(scratch.New(), "run");
        using var training = ProgramProcess.Start(TrainArgs(data, run));
        training.WaitForOutput("step ", Patience);
        training.Signal("INT");
        training.WaitForOutput("press Ctrl+C again", TimeSpan.FromSeconds(30));
        training.Signal("INT");
        int code = training.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 130, $"exit {code}, expected 130 (ended by SIGINT):\n{training.Output}");
        Assert.Contains("Ctrl+C again: stopping now", training.Output);
        // Whatever was saved is complete: the run's arguments, and a checkpoint only if one finished.
        Assert.NotNull(ResNet.Cli.TrainArguments.FromJson(Path.Combine(run, "run.json")));
        if (Checkpoint.Resolve(Trainer.CheckpointPath(run, Trainer.LastName)) is { } last)
            Assert.True(Checkpoint.ReadState(last).GlobalStep > 0);
    }
}
