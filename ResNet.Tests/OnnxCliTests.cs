using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>A seeded ResNet18 (small stem, non-trivial BatchNorm statistics) as weights and as two ONNX exports, and 7 CIFAR-10 images.</summary>
public sealed class OnnxCliFixture : IDisposable
{
    private readonly ScratchFolders scratch = new();
    public string Dir { get; }
    public string Weights { get; }
    public string Plain { get; }
    public string Baked { get; }
    public string Images { get; }

    public OnnxCliFixture()
    {
        Dir = scratch.New();
        var prep = new Preprocessing { Resize = 36, Crop = 32, Mean = OnnxTestModels.CifarMean, Std = OnnxTestModels.CifarStd };
        Images = Path.Combine(Dir, "images");
        foreach (var file in OnnxTestModels.Images(Path.Combine(TestPaths.Cifar10, "test"), 7, 143))
        {
            string target = Path.Combine(Images, Path.GetFileName(Path.GetDirectoryName(file))!, Path.GetFileName(file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var calibration = OnnxTestModels.Normalised(OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Cifar10, "train"), 32, 150), prep), prep);
        using var model = OnnxTestModels.Create(ResNetConfig.ResNet18(10, StemKind.Small), seed: 6, calibration, prep.Crop);
        Weights = Path.Combine(Dir, "model.pt");
        WeightsFile.Save(model, OnnxTestModels.Card(model, prep), Weights);
        Plain = Path.Combine(Dir, "model.onnx");
        Baked = Path.Combine(Dir, "model-preprocessing.onnx");
        OnnxExporter.Export(Weights, Plain, new OnnxExportOptions());
        OnnxExporter.Export(Weights, Baked, new OnnxExportOptions { WithPreprocessing = true });
    }

    public void Dispose() => scratch.Dispose();
}

/// <summary><c>featurize</c>/<c>predict</c> with <c>--onnx</c> give what they give with <c>--weights</c>.</summary>
public sealed class OnnxCliTests(OnnxCliFixture f) : IClassFixture<OnnxCliFixture>
{
    private const float Tolerance = 1e-4f;

    private List<string[]> Run(string verb, string engineOption, string model, params string[] extra)
    {
        string csv = Path.Combine(f.Dir, $"{verb}-{Path.GetFileNameWithoutExtension(model)}.csv");
        var run = CliRunner.Run([verb, engineOption, model, "--images", f.Images, "--output", csv, "--batch-size", "4", "--device", "cpu", .. extra]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains(engineOption == "--onnx" ? "ONNX Runtime" : "TorchSharp", run.Error);
        return TestCsv.Read(csv);
    }

    private static void AssertSameTable(List<string[]> expected, List<string[]> actual, int firstNumber)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected[0], actual[0]);
        float max = 0;
        for (int r = 1; r < expected.Count; r++)
        {
            Assert.Equal(expected[r][..firstNumber], actual[r][..firstNumber]); // path, predicted class
            for (int c = firstNumber; c < expected[r].Length; c++)
                max = Math.Max(max, Math.Abs(TestCsv.Float(expected[r][c]) - TestCsv.Float(actual[r][c])));
        }
        Assert.True(max <= Tolerance, $"max |Δ| {max:g3}");
    }

    [Fact]
    public void Featurize_with_onnx_equals_featurize_with_weights()
    {
        var expected = Run("featurize", "--weights", f.Weights);
        Assert.Equal(8, expected.Count); // header + 7 images
        AssertSameTable(expected, Run("featurize", "--onnx", f.Plain), 1);
        AssertSameTable(expected, Run("featurize", "--onnx", f.Baked), 1);
    }

    [Fact]
    public void Predict_with_onnx_equals_predict_with_weights()
    {
        var expected = Run("predict", "--weights", f.Weights);
        Assert.Equal("class-0", expected[0][3]);
        AssertSameTable(expected, Run("predict", "--onnx", f.Plain), 2);
        AssertSameTable(expected, Run("predict", "--onnx", f.Baked), 2);
    }

    [Theory]
    [InlineData("--weights and --onnx are alternatives", "--weights", "{weights}", "--onnx", "{plain}")]
    [InlineData("CUDA was requested", "--onnx", "{plain}", "--device", "cuda")]
    [InlineData("takes 32×32 input; the crop cannot be changed to 24", "--onnx", "{plain}", "--crop", "24")]
    [InlineData("has its preprocessing baked in", "--onnx", "{baked}", "--mean", "0.5,0.5,0.5")]
    [InlineData("not an ONNX model", "--onnx", "{weights}")]
    [InlineData("ONNX model not found", "--onnx", "/no/model.onnx")]
    public void Onnx_errors_are_one_clear_line(string expected, params string[] args)
    {
        string csv = Path.Combine(f.Dir, "x.csv");
        var run = CliRunner.Run(["predict", "--images", f.Images, "--output", csv,
            .. args.Select(a => a.Replace("{weights}", f.Weights).Replace("{plain}", f.Plain).Replace("{baked}", f.Baked))]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(expected, run.Error);
        Assert.DoesNotContain("   at ", run.Error);
        Assert.False(File.Exists(csv));
    }
}
