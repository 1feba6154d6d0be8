using ResNet.Training.Engines;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary><c>resnet export</c> on the command line.</summary>
public sealed class ExportCommandTests : IDisposable
{
    private readonly ScratchFolders scratch = new();
    private readonly string dir;

    public ExportCommandTests() => dir = scratch.New();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void Export_writes_a_checked_model_that_matches_TorchSharp()
    {
        var prep = new Preprocessing { Resize = 36, Crop = 32, Mean = OnnxTestModels.CifarMean, Std = OnnxTestModels.CifarStd };
        var resized = OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Cifar10, "test"), 8, 97), prep);
        var input = OnnxTestModels.Normalised(resized, prep);
        // A narrow network keeps the files small; full ResNet18 parity is OnnxExportTests' job.
        var config = new ResNetConfig { NumClasses = 10, Stem = StemKind.Small, BlocksPerStage = [1, 1, 1, 1], Widths = [16, 32, 64, 128] };
        using var model = OnnxTestModels.Create(config, seed: 5, input, prep.Crop);
        var card = OnnxTestModels.Card(model, prep);
        string weights = Path.Combine(dir, "model.pt"), plain = Path.Combine(dir, "plain.onnx"), baked = Path.Combine(dir, "baked.onnx");
        WeightsFile.Save(model, card, weights);

        var (code, output, error) = CliRunner.Run("export", "--weights", weights, "--output", plain);
        Assert.True(code == 0, error);
        Assert.Contains($"wrote {plain}", output);
        Assert.Contains("'input' float [N,3,32,32]", output);
        (code, output, error) = CliRunner.Run("export", "--weights", weights, "--output", baked, "--opset", "19", "--with-preprocessing", "--probabilities");
        Assert.True(code == 0, error);
        Assert.Contains("'features' [N,128], 'logits' [N,10], 'probabilities' [N,10]", output);

        OnnxChecker.AssertValid(plain); // onnx 1.12 checks opsets up to 17
        var info = OnnxModelInfo.Read(baked);
        Assert.Equal((19L, true, true), (info.Opset, info.WithPreprocessing, info.HasProbabilities));
        Assert.Equal(WeightsFile.Sha256(weights), info.Card.WeightsSha256);
        Assert.Equal(card.ClassNames, info.Card.ClassNames);

        using var torch = new TorchSharpEngine(model, card, ownsModel: false);
        var expected = torch.Run(input, 8);
        using var plainEngine = OnnxEngine.Open(plain, DeviceChoice.Cpu);
        using var bakedEngine = OnnxEngine.Open(baked, DeviceChoice.Cpu);
        foreach (var actual in new[] { plainEngine.Run(input, 8), bakedEngine.RunResized(resized, 8) })
        {
            Assert.True(OnnxTestModels.MaxAbsDiff(expected.Features, actual.Features) <= 1e-4f);
            Assert.True(OnnxTestModels.MaxAbsDiff(expected.Logits, actual.Logits) <= 1e-4f);
        }
    }

    [Fact]
    public void Export_errors_are_one_clear_line()
    {
        string weights = Path.Combine(dir, "w.pt");
        File.WriteAllText(weights, "not a state dict");
        foreach (var (args, message) in new[]
                 {
                     (new[] { "--weights", weights, "--output", Path.Combine(dir, "a.onnx"), "--opset", "12" }, "error: Opset 12 is not supported: choose 17..23."),
                     (new[] { "--weights", Path.Combine(dir, "absent.pt"), "--output", Path.Combine(dir, "a.onnx") }, "error: Weights file not found"),
                     (new[] { "--weights", weights, "--output", Path.Combine(dir, "a.onnx") }, $"error: {weights}"),
                     (new[] { "--weights", weights, "--output", weights }, "is also an input"),
                 })
        {
            var (code, _, error) = CliRunner.Run(["export", .. args]);
            Assert.Equal(1, code);
            Assert.Contains(message, error);
            Assert.DoesNotContain("   at ", error);
        }
        Assert.False(File.Exists(Path.Combine(dir, "a.onnx")));
    }

    [Fact]
    public void Export_of_imagenet_weights_offline_says_where_to_put_the_file()
    {
        var run = CliRunner.RunWithEnvironment(ImageNetWeightsOptions.BaseUrlVariable, $"http://127.0.0.1:{LocalHttpServer.FreePort()}/",
            "export", "--weights", "imagenet", "--cache-dir", dir, "--output", Path.Combine(dir, "r18.onnx"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"put it at {Path.Combine(dir, ImageNetWeightsOptions.DefaultFileName)}", run.Error);
        Assert.False(File.Exists(Path.Combine(dir, "r18.onnx")));
    }
}
