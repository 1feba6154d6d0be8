using System.Text;
using System.Globalization;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary><c>featurize</c> and <c>predict</c> run in-process on real CIFAR-10 images and on every image flavour.</summary>
public class CliTests(CliFixture fixture) : IClassFixture<CliFixture>, IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private string Output(string name) => Path.Combine(scratch.New(), name);

    private List<string> CifarFiles() =>
    [
        .. new[] { "cat", "ship" }.SelectMany(c => Directory.GetFiles(Path.Combine(fixture.Cifar, c)).Order(StringComparer.Ordinal)),
    ];

    [Fact]
    public void Featurize_writes_the_engines_features_for_each_image_in_order()
    {
        string csv = Output("features.csv");
        string explicitFile = Path.Combine(fixture.Images, "good", "rgb.bmp");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", fixture.Cifar, explicitFile,
            "--output", csv, "--batch-size", "4", "--device", "cpu");
        Assert.True(run.ExitCode == 0, run.Error);
        var files = CifarFiles().Append(explicitFile).ToList();
        var rows = TestCsv.Read(csv);
        Assert.Equal(["path", .. Enumerable.Range(0, 512).Select(i => $"f{i}")], rows[0]);
        Assert.Equal(files, rows.Skip(1).Select(r => r[0]));
        var (features, _) = fixture.Expected(files);
        for (int i = 0; i < files.Count; i++)
            AssertClose(features[i], rows[i + 1].Skip(1).Select(TestCsv.Float).ToArray());
        Assert.Contains("featurize: 7 images", run.Error);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(csv)!)); // no temporary file left
    }

    [Fact]
    public void Predict_writes_the_predicted_class_and_every_class_probability()
    {
        string csv = Output("predictions.csv");
        var run = CliRunner.Run("predict", "--weights", fixture.Weights, "--images", fixture.Cifar, "--output", csv, "--batch-size", "5");
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = TestCsv.Read(csv);
        Assert.Equal(["path", "predicted", "probability", .. CliFixture.Classes], rows[0]);
        var files = CifarFiles();
        var (_, logits) = fixture.Expected(files);
        for (int i = 0; i < files.Count; i++)
        {
            var row = rows[i + 1];
            var probabilities = row.Skip(3).Select(TestCsv.Float).ToArray();
            AssertClose(Softmax(logits[i]), probabilities);
            Assert.Equal(1.0, probabilities.Sum(p => (double)p), 5);
            int best = Array.IndexOf(probabilities, probabilities.Max());
            Assert.Equal(CliFixture.Classes[best], row[1]);
            Assert.Equal(probabilities[best], TestCsv.Float(row[2]));
        }
    }

    [Fact]
    public void Predict_with_labels_and_top_k_writes_the_k_likeliest_names()
    {
        string labels = Path.Combine(scratch.New(), "labels.txt");
        File.WriteAllLines(labels, Enumerable.Range(0, 10).Select(i => $"label, {i}").Append(""));
        string csv = Output("top.csv");
        var run = CliRunner.Run("predict", "--weights", fixture.Weights, "--images", fixture.Cifar, "--output", csv, "--labels", labels, "--top", "3");
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = TestCsv.Read(csv);
        Assert.Equal(["path", "predicted", "probability", "top1", "top1_probability", "top2", "top2_probability", "top3", "top3_probability"], rows[0]);
        Assert.Contains("\"label, ", File.ReadAllText(csv)); // names with commas are quoted
        var (_, logits) = fixture.Expected(CifarFiles());
        for (int i = 0; i < logits.Length; i++)
        {
            var p = Softmax(logits[i]);
            var order = Enumerable.Range(0, 10).OrderByDescending(c => p[c]).ToArray();
            var row = rows[i + 1];
            Assert.Equal($"label, {order[0]}", row[1]);
            Assert.Equal([$"label, {order[0]}", $"label, {order[1]}", $"label, {order[2]}"], new[] { row[3], row[5], row[7] });
            Assert.True(TestCsv.Float(row[4]) >= TestCsv.Float(row[6]) && TestCsv.Float(row[6]) >= TestCsv.Float(row[8]));
        }
    }

    [Fact]
    public void Every_image_flavour_is_read_and_folders_are_searched_recursively_in_any_case()
    {
        string csv = Output("flavours.csv");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", Path.Combine(fixture.Images, "good"),
            Path.Combine(fixture.Images, "other"), "--output", csv, "--on-error", "fail");
        Assert.True(run.ExitCode == 0, run.Error);
        var names = TestCsv.Read(csv).Skip(1).Select(r => Path.GetRelativePath(Path.Combine(fixture.Images, "good"), r[0])).ToList();
        Assert.Equal(["UPPER.PNG", "gray.jpg", "gray.png", Path.Combine("nested", "deep.png"), "palette.png", "progressive.jpg", "rgb.bmp", "rgb.jpg", "rgba.png", "trailer.jpg"], names);
    }

    [Fact]
    public void Unreadable_images_are_skipped_by_name_and_counted()
    {
        string csv = Output("skip.csv");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", fixture.Cifar, Path.Combine(fixture.Images, "bad"),
            "--output", csv, "--on-error", "skip");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(CifarFiles(), TestCsv.Read(csv).Skip(1).Select(r => r[0]));
        foreach (string bad in new[] { "empty.png", "text.jpg", "truncated.jpg", "truncated.png", "truncated.bmp" })
            Assert.Contains($"skipped {Path.Combine(fixture.Images, "bad", bad)}: ", run.Error);
        Assert.Contains("the file is empty", run.Error);
        Assert.Contains("truncated JPEG", run.Error);
        Assert.Contains("skipped 5 unreadable images", run.Error);
        Assert.DoesNotContain("   at ", run.Error); // no stack trace
    }

    [Fact]
    public void Fail_policy_stops_naming_the_file_and_writes_nothing()
    {
        string csv = Output("fail.csv");
        var run = CliRunner.Run("predict", "--weights", fixture.Weights, "--images", fixture.Cifar, Path.Combine(fixture.Images, "bad", "truncated.png"),
            "--output", csv, "--on-error", "fail");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: {Path.Combine(fixture.Images, "bad", "truncated.png")}: truncated PNG", run.Error);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(csv)!));
    }

    [Fact]
    public void Only_unreadable_images_is_an_error()
    {
        string csv = Output("none.csv");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", Path.Combine(fixture.Images, "bad"), "--output", csv);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("none could be read", run.Error);
        Assert.False(File.Exists(csv));
    }

    [Fact]
    public void Preprocessing_options_override_the_card()
    {
        string csv = Output("overrides.csv");
        string image = Path.Combine(fixture.Images, "good", "rgb.jpg");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", image, "--output", csv,
            "--resize", "40", "--crop", "24", "--mean", "0.5,0.5,0.5", "--std", "0.2, 0.3, 0.4");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("resize 40, crop 24, mean 0.5,0.5,0.5, std 0.2,0.3,0.4", run.Error);
        var (features, _) = fixture.Expected([image], card => card with
        {
            Preprocessing = card.Preprocessing with { Resize = 40, Crop = 24, Mean = [0.5f, 0.5f, 0.5f], Std = [0.2f, 0.3f, 0.4f] },
        });
        AssertClose(features[0], TestCsv.Read(csv)[1].Skip(1).Select(TestCsv.Float).ToArray());
    }

    [Theory]
    [InlineData("error: --weights or --onnx is required", "featurize", "--images", "{cifar}", "--output", "{out}")]
    [InlineData("is neither a file nor a folder", "featurize", "--weights", "{weights}", "--images", "/no/such/folder", "--output", "{out}")]
    [InlineData("no .jpg, .jpeg, .png or .bmp files", "featurize", "--weights", "{weights}", "--images", "{other}", "--output", "{out}")]
    [InlineData("--mean takes three numbers", "featurize", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--mean", "0.5,0.5")]
    [InlineData("Resize (16) must be at least Crop (32)", "featurize", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--resize", "16")]
    [InlineData("--resize 30000: must be between 1 and 4096 pixels", "featurize", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--resize", "30000", "--crop", "30000")]
    [InlineData("--max-image-pixels must be at least 1", "featurize", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--max-image-pixels", "0")]
    [InlineData("--batch-size must be at least 1", "featurize", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--batch-size", "0")]
    [InlineData("--top must be between 1 and the number of classes (10)", "predict", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--top", "11")]
    [InlineData("names 2 classes, but the model has 10", "predict", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--labels", "{labels}")]
    [InlineData("Weights file not found", "predict", "--weights", "/no/model.pt", "--images", "{cifar}", "--output", "{out}")]
    [InlineData("Unknown device 'tpu'", "predict", "--weights", "{weights}", "--images", "{cifar}", "--output", "{out}", "--device", "tpu")]
    public void Bad_arguments_give_one_clear_line(string expected, params string[] args)
    {
        string labels = Path.Combine(scratch.New(), "two.txt");
        File.WriteAllLines(labels, ["a", "b"]);
        string output = Output("x.csv");
        var run = CliRunner.Run(args.Select(a => a.Replace("{cifar}", fixture.Cifar).Replace("{weights}", fixture.Weights)
            .Replace("{out}", output).Replace("{other}", Path.Combine(fixture.Images, "other")).Replace("{labels}", labels)).ToArray());
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains(expected, run.Error);
        Assert.DoesNotContain("   at ", run.Error);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Imagenet_weights_offline_say_where_to_put_the_file()
    {
        string cache = scratch.New();
        var run = CliRunner.RunWithEnvironment(ImageNetWeightsOptions.BaseUrlVariable, $"http://127.0.0.1:{LocalHttpServer.FreePort()}/",
            "predict", "--weights", "imagenet", "--cache-dir", cache, "--images", fixture.Cifar, "--output", Output("p.csv"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"put it at {Path.Combine(cache, ImageNetWeightsOptions.DefaultFileName)}", run.Error);
    }

    [Fact]
    public void Imagenet_weights_that_fail_the_hash_check_are_not_kept()
    {
        string cache = scratch.New();
        using var server = new LocalHttpServer(new() { [$"/models/{ImageNetWeightsOptions.DefaultFileName}"] = Encoding.ASCII.GetBytes("not the weights") });
        var run = CliRunner.RunWithEnvironment(ImageNetWeightsOptions.BaseUrlVariable, $"http://127.0.0.1:{server.Port}/models/",
            "featurize", "--weights", "imagenet", "--cache-dir", cache, "--images", fixture.Cifar, "--output", Output("f.csv"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("is corrupt", run.Error);
        Assert.Contains("downloading", run.Error);
        Assert.Empty(Directory.GetFiles(cache));
    }

    [Theory]
    [InlineData("featurize")]
    [InlineData("predict")]
    [InlineData("train")]
    [InlineData("evaluate")]
    public void Every_verb_that_runs_a_model_takes_the_shared_device_options(string verb)
    {
        var run = CliRunner.Run(verb, "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--device <auto|cpu|cuda>", run.Out);
        Assert.Contains("--gpu-id", run.Out);
    }

    [Theory]
    [InlineData("featurize")]
    [InlineData("predict")]
    public void Every_verb_has_help(string verb)
    {
        var run = CliRunner.Run(verb, "--help");
        Assert.Equal(0, run.ExitCode);
        foreach (string option in new[] { "--weights", "--images", "--output", "--resize", "--crop", "--mean", "--std", "--batch-size", "--device", "--gpu-id", "--on-error" })
            Assert.Contains(option, run.Out);
    }

    [Fact]
    public void Csv_fields_are_quoted_only_when_needed_and_floats_round_trip()
    {
        Assert.Equal("plain/path.png", ResNet.Training.Training.Csv.Quote("plain/path.png"));
        Assert.Equal("\"a,b\"", ResNet.Training.Training.Csv.Quote("a,b"));
        Assert.Equal("\"say \"\"hi\"\"\"", ResNet.Training.Training.Csv.Quote("say \"hi\""));
        Assert.Equal("\" lead\"", ResNet.Training.Training.Csv.Quote(" lead"));
        string path = Output("r.csv");
        float[] values = [1f / 3, -2.5e-8f, float.MaxValue, 0.1f];
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE"); // a decimal comma must not leak into the file
        try
        {
            using var csv = new ResNet.Cli.CsvFile(path);
            csv.WriteRow(["x"], values);
            csv.Commit();
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
        Assert.Equal(values, TestCsv.Read(path)[0].Skip(1).Select(TestCsv.Float));
    }

    private static float[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        return e.Select(v => (float)(v / e.Sum())).ToArray();
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"value {i}: expected {expected[i]}, got {actual[i]}");
    }
}
