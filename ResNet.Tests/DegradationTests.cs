using ResNet.Training.Experiments;
using SkiaSharp;

namespace ResNet.Tests;

/// <summary>The degradation experiment: its verb, its CSV, its plot and the verdict it draws from the curves.</summary>
public sealed class DegradationTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void The_verb_trains_plain_and_residual_nets_of_each_depth_and_writes_curves_plot_and_summary()
    {
        string output = scratch.New();
        var run = CliRunner.Run("degradation", "--data", TestPaths.Cifar10, "--depths", "8,14", "--epochs", "2", "--train-images", "60",
            "--batch-size", "20", "--output", output, "--threads", "2");
        Assert.True(run.ExitCode == 0, run.Error + run.Out);
        Assert.Contains("2 epochs each on 60 of 5000 training images, 1000 test images", run.Out);

        var points = DegradationExperiment.ReadCsv(Path.Combine(output, "degradation.csv"));
        // Two depths × plain and residual × two epochs, in the order trained.
        Assert.Equal(["plain-8", "plain-8", "ResNet-8", "ResNet-8", "plain-14", "plain-14", "ResNet-14", "ResNet-14"], points.Select(p => p.Network));
        Assert.Equal([1, 2, 1, 2, 1, 2, 1, 2], points.Select(p => p.Epoch));
        Assert.All(points, p => Assert.InRange(p.TrainError, 0, 1));
        Assert.All(points, p => Assert.InRange(p.TestError, 0, 1));
        // Seconds accumulate over a network's epochs.
        Assert.All(points.Chunk(2), pair => Assert.True(pair[1].Seconds > pair[0].Seconds));

        using var png = SKBitmap.Decode(Path.Combine(output, "degradation.png"));
        Assert.Equal(1280, png.Width);
        string summary = File.ReadAllText(Path.Combine(output, "degradation.md"));
        Assert.Contains("resnet degradation --data", summary);
        Assert.Contains("plain: the 14-layer net ends with", summary);
        Assert.Contains("ResNet: the 14-layer net ends with", summary);
    }

    [Theory]
    [InlineData("20", "at least two different depths")]
    [InlineData("20,21", "\"21\" is not a CIFAR depth 6n+2")]
    public void Depths_that_cannot_be_compared_are_refused_before_any_training(string depths, string message)
    {
        var run = CliRunner.Run("degradation", "--data", TestPaths.Cifar10, "--depths", depths, "--output", scratch.New());
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(message, run.Error);
    }

    [Fact]
    public void The_verdict_compares_final_training_errors_of_the_shallowest_and_deepest_net_of_each_kind()
    {
        DegradationPoint[] points =
        [
            new(20, false, 1, 0.50, 0.55, 10), new(20, false, 2, 0.30, 0.40, 20),
            new(56, false, 1, 0.70, 0.72, 30), new(56, false, 2, 0.45, 0.50, 60),
            new(20, true, 2, 0.28, 0.38, 20), new(56, true, 2, 0.20, 0.33, 60),
        ];
        var verdict = DegradationExperiment.Verdict(points);
        Assert.Equal(2, verdict.Count);
        Assert.Equal("plain: the 56-layer net ends with higher training error than the 20-layer one (0.450 vs 0.300; test 0.500 vs 0.400): degradation", verdict[0]);
        Assert.Equal("ResNet: the 56-layer net ends with lower training error than the 20-layer one (0.200 vs 0.280; test 0.330 vs 0.380): no degradation", verdict[1]);
    }

    [Fact]
    public void A_damaged_csv_is_reported_with_its_line()
    {
        string path = Path.Combine(scratch.New(), "degradation.csv");
        File.WriteAllText(path, DegradationExperiment.CsvHeader + "\nplain-20,20,false,1,0.5,0.5,1.0\nplain-20,20,false,two,0.4,0.4,2.0\n");
        var e = Assert.Throws<InvalidDataException>(() => DegradationExperiment.ReadCsv(path));
        Assert.Contains("line 3", e.Message);
        File.WriteAllText(path, "epoch,loss\n1,0.5\n");
        Assert.Contains("not a degradation CSV", Assert.Throws<InvalidDataException>(() => DegradationExperiment.ReadCsv(path)).Message);
    }
}
