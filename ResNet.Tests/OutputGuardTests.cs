using System.Security.Cryptography;

namespace ResNet.Tests;

/// <summary>
/// Outputs never destroy inputs: every verb that writes refuses an output path that is one of its inputs (also through
/// a relative path or a symbolic link), and an output of the wrong kind (a folder for a file) is refused before any work.
/// </summary>
public sealed class OutputGuardTests(CliFixture fixture) : IClassFixture<CliFixture>, IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    /// <summary>A private copy of the fixture's weights and card, so a failing guard cannot spoil other tests.</summary>
    private string CopyWeights()
    {
        string dir = scratch.New();
        string weights = Path.Combine(dir, "model.pt");
        File.Copy(fixture.Weights, weights);
        File.Copy(Path.ChangeExtension(fixture.Weights, ".json"), Path.Combine(dir, "model.json"));
        return weights;
    }

    private string CopyImage()
    {
        string image = Path.Combine(scratch.New(), "one.png");
        File.Copy(Path.Combine(fixture.Images, "good", "gray.png"), image);
        return image;
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static void AssertRefused(CliRunner.Result run, string expected)
    {
        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}\n{run.Out}\n{run.Error}");
        Assert.Contains(expected, run.Error);
    }

    [Fact]
    public void Predict_refuses_to_write_over_its_weights()
    {
        string weights = CopyWeights(), before = Hash(weights);
        var run = CliRunner.Run("predict", "--weights", weights, "--images", CopyImage(), "--output", weights);
        AssertRefused(run, "is also an input");
        Assert.Equal(before, Hash(weights));
    }

    [Theory]
    [InlineData("featurize")]
    [InlineData("predict")]
    public void Writing_verbs_refuse_an_image_as_output_even_through_a_relative_path_or_a_link(string verb)
    {
        string weights = CopyWeights(), image = CopyImage(), before = Hash(image);
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, image);
        AssertRefused(CliRunner.Run(verb, "--weights", weights, "--images", image, "--output", relative), "is also an input");
        string link = Path.Combine(scratch.New(), "link.csv");
        File.CreateSymbolicLink(link, image);
        AssertRefused(CliRunner.Run(verb, "--weights", weights, "--images", Path.GetDirectoryName(image)!, "--output", link), "is also an input");
        Assert.Equal(before, Hash(image));
    }

    [Theory]
    [InlineData("featurize")]
    [InlineData("predict")]
    [InlineData("export")]
    public void Int8_verbs_refuse_a_calibration_image_as_output(string verb)
    {
        string weights = CopyWeights(), image = CopyImage(), calibration = CopyImage(), before = Hash(calibration);
        string[] input = verb == "export" ? [] : ["--images", image];
        // Given as a file, and found inside a calibration folder.
        foreach (string source in new[] { calibration, Path.GetDirectoryName(calibration)! })
            AssertRefused(CliRunner.Run([verb, "--weights", weights, .. input, "--precision", "int8", "--calibration", source, "--output", calibration]),
                $"is also an input ({calibration})");
        Assert.Equal(before, Hash(calibration));
    }

    [Fact]
    public void Predict_refuses_to_overwrite_its_labels_file()
    {
        string labels = Path.Combine(scratch.New(), "labels.txt");
        File.WriteAllLines(labels, CliFixture.Classes);
        AssertRefused(CliRunner.Run("predict", "--weights", CopyWeights(), "--images", CopyImage(), "--labels", labels, "--output", labels), "is also an input");
        Assert.Equal(CliFixture.Classes, File.ReadAllLines(labels));
    }

    [Fact]
    public void Export_refuses_the_weights_card_and_a_link_to_the_weights()
    {
        string weights = CopyWeights();
        AssertRefused(CliRunner.Run("export", "--weights", weights, "--output", Path.ChangeExtension(weights, ".json")), "is also an input");
        string link = Path.Combine(scratch.New(), "model.onnx");
        File.CreateSymbolicLink(link, weights);
        AssertRefused(CliRunner.Run("export", "--weights", weights, "--output", link), "is also an input");
    }

    [Fact]
    public void A_folder_given_as_the_output_file_is_refused_before_any_image_is_read()
    {
        string folder = scratch.New();
        var run = CliRunner.Run("featurize", "--weights", CopyWeights(), "--images", CopyImage(), "--output", folder);
        AssertRefused(run, "is a folder");
        Assert.DoesNotContain("featurize:", run.Error); // the model was never opened
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void Train_refuses_a_file_as_run_folder_and_a_run_folder_inside_its_data()
    {
        string file = Path.Combine(scratch.New(), "notes.txt");
        File.WriteAllText(file, "keep me");
        AssertRefused(CliRunner.Run("train", "--data", fixture.Cifar, "--stem", "small", "--output", file), "is a file");
        Assert.Equal("keep me", File.ReadAllText(file));
        AssertRefused(CliRunner.Run("train", "--data", fixture.Cifar, "--stem", "small", "--output", Path.Combine(fixture.Cifar, "run")), "is inside the input");
        Assert.False(Directory.Exists(Path.Combine(fixture.Cifar, "run")));
    }
}
