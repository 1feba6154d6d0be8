using ResNet.Training.Training;

namespace ResNet.Tests;

/// <summary>The train and evaluate verbs end to end on a tiny image folder.</summary>
public class TrainCommandTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    private string Temp() => scratch.New();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void Train_evaluate_and_resume_from_the_command_line()
    {
        string data = Temp();
        for (int i = 0; i < 6; i++)
            foreach (var (split, cls) in new[] { ("train", "ant"), ("train", "bee"), ("test", "ant"), ("test", "bee") })
                if (split == "train" || i < 2)
                    TestImages.Noise(Path.Combine(data, split, cls, $"{i}.png"), 16, (cls.GetHashCode() & 0xFFFF) + i);
        File.WriteAllBytes(Path.Combine(data, "train", "bee", "broken.jpg"), [0xFF, 0xD8, 0xFF, 0, 1]);
        string run = Path.Combine(Temp(), "run");
        string[] common = ["--data", data, "--stem", "small", "--image-size", "16", "--batch-size", "4", "--output", run, "--val-split", "0.2"];

        var train = CliRunner.Run(["train", "--epochs", "1", .. common]);
        Assert.True(train.ExitCode == 0, train.Error + train.Out);
        Assert.Contains("test accuracy: ", train.Out);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(train.Out, @"file\(s\) skipped")); // said once, not at start and end
        Assert.Contains("broken.jpg\ttruncated JPEG", File.ReadAllText(Path.Combine(run, "skipped.txt")));
        Assert.True(File.Exists(Path.Combine(run, "checkpoints", "last", "model.pt")));
        Assert.True(File.Exists(Path.Combine(run, "test-report.csv")));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);

        var again = CliRunner.Run(["train", "--epochs", "1", .. common]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("--resume", again.Error);

        var resumed = CliRunner.Run(["train", "--resume", "--output", run, "--epochs", "2"]);
        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Out);
        Assert.Contains("(resuming)", resumed.Out);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(resumed.Out, @"file\(s\) skipped"));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);

        string report = Temp();
        var evaluate = CliRunner.Run("evaluate", "--weights", Path.Combine(run, "checkpoints", "last", "model.pt"), "--data", data, "--output", report);
        Assert.True(evaluate.ExitCode == 0, evaluate.Error + evaluate.Out);
        Assert.Contains("accuracy: ", evaluate.Out);
        var csv = TestCsv.Read(Directory.GetFiles(report, "*-report.csv").Single());
        Assert.Equal(["class", "ant", "bee"], csv.Select(row => row[0]));
        Assert.Single(Directory.GetFiles(report, "*-confusion.png"));
    }

    [Fact]
    public void Bad_arguments_give_one_clear_line()
    {
        var missing = CliRunner.Run("train", "--data", "/no/such/folder", "--output", Path.Combine(Temp(), "r"));
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: /no/such/folder: no such folder", missing.Error);
        Assert.DoesNotContain("   at ", missing.Error);
        var lr = CliRunner.Run("train", "--data", "fashion-mnist", "--lr", "-1");
        Assert.Equal(1, lr.ExitCode);
        Assert.Contains("--lr must be a positive number", lr.Error);
        var resume = CliRunner.Run("train", "--resume", "--output", Temp());
        Assert.Contains("is not a run folder", resume.Error);
    }

    [Fact]
    public void The_library_speaks_of_options_and_the_program_of_its_flags()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingOptions { BatchSize = 1 }.Validated());
        Assert.StartsWith("BatchSize must be at least 2", e.Message);
        Assert.Equal("--warmup must be between 0 and --epochs (3), not 5.",
            ResNet.Cli.CliAction.InFlags("WarmupEpochs must be between 0 and Epochs (3), not 5."));
        Assert.Equal("BatchNorm: --batch-size, --lr, --clip-grad", ResNet.Cli.CliAction.InFlags("BatchNorm: BatchSize, LearningRate, ClipGradNorm"));
    }
}
