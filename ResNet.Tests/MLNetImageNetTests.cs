using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>
/// ML.NET's ImageNet ResNet18 (<c>mlnet-imagenet</c>, the network of <c>DnnFeaturizeImage</c>): once imported into our
/// ResNet family, its features equal <c>DnnFeaturizeImage</c>'s on real JPEGs through the ML.NET transform, the CLI
/// (TorchSharp) and the exported ONNX model (ONNX Runtime).
/// </summary>
public sealed class MLNetImageNetFixture : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    /// <summary>A handful of real photographs of different classes and shapes.</summary>
    public string[] Images { get; } = Directory.GetDirectories(Path.Combine(TestPaths.Imagenette, "val"))
        .Order(StringComparer.Ordinal).Take(4)
        .Select(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).First()).ToArray();

    /// <summary><c>DnnFeaturizeImage</c> ResNet18's features of <see cref="Images"/>, as ML.NET's samples compute them.</summary>
    public float[][] Expected { get; }

    public MLNetImageNetFixture()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Images.Select(f => new ImageRow { ImagePath = f }).ToList());
        var peer = ml.Transforms.LoadImages("Image", null, nameof(ImageRow.ImagePath))
            .Append(ml.Transforms.ResizeImages("Resized", 224, 224, "Image"))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Resized"))
            .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"));
        Expected = Features(peer.Fit(data).Transform(data));
    }

    /// <summary>The <c>Features</c> column, row by row.</summary>
    public static float[][] Features(IDataView view) =>
        view.GetColumn<VBuffer<float>>("Features").Select(v => v.DenseValues().ToArray()).ToArray();

    /// <summary>Asserts that <paramref name="actual"/> is within 1e-4 of the largest expected feature value.</summary>
    public void AssertMatches(float[][] actual)
    {
        Assert.Equal(Expected.Length, actual.Length);
        for (int i = 0; i < Expected.Length; i++)
        {
            Assert.Equal(512, actual[i].Length);
            float largest = Expected[i].Max(Math.Abs);
            Assert.True(largest > 1, $"image {i}: the peer's features are degenerate (largest {largest})");
            float worst = Expected[i].Zip(actual[i], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-4f * largest, $"{Images[i]}: largest difference {worst} exceeds 1e-4 × {largest}");
        }
    }

    /// <summary>One input row.</summary>
    public sealed class ImageRow
    {
        /// <summary>Path of the image.</summary>
        public string ImagePath { get; set; } = "";
    }
}

public sealed class MLNetImageNetTests(MLNetImageNetFixture fixture) : IClassFixture<MLNetImageNetFixture>, IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void The_featurizer_transform_reproduces_DnnFeaturizeImage()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(fixture.Images.Select(f => new MLNetImageNetFixture.ImageRow { ImagePath = f }).ToList());
        var pipeline = ml.Transforms.LoadImages("Image", null, nameof(MLNetImageNetFixture.ImageRow.ImagePath))
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.MLNetImageNet, batchSize: 3));
        fixture.AssertMatches(MLNetImageNetFixture.Features(pipeline.Fit(data).Transform(data)));
    }

    [Fact]
    public void The_CLI_and_its_exported_ONNX_model_reproduce_DnnFeaturizeImage()
    {
        string dir = scratch.New();
        try
        {
            string torchCsv = Path.Combine(dir, "torch.csv"), onnx = Path.Combine(dir, "mlnet-imagenet.onnx"), onnxCsv = Path.Combine(dir, "onnx.csv");
            var run = CliRunner.Run(["featurize", "--weights", MLNetImageNetWeights.Name, "--images", .. fixture.Images, "--output", torchCsv, "--device", "cpu"]);
            Assert.True(run.ExitCode == 0, run.Error);
            fixture.AssertMatches(ReadFeatures(torchCsv));

            run = CliRunner.Run("export", "--weights", MLNetImageNetWeights.Name, "--output", onnx, "--with-preprocessing");
            Assert.True(run.ExitCode == 0, run.Error);
            run = CliRunner.Run(["featurize", "--onnx", onnx, "--images", .. fixture.Images, "--output", onnxCsv, "--device", "cpu"]);
            Assert.True(run.ExitCode == 0, run.Error);
            fixture.AssertMatches(ReadFeatures(onnxCsv));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Without_the_package_the_error_names_it()
    {
        string empty = scratch.New();
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => MLNetImageNetWeights.FindModels(null, empty, v => v == "NUGET_PACKAGES" ? empty : null));
            Assert.Contains($"Add the NuGet package {MLNetImageNetWeights.PackageId} {MLNetImageNetWeights.PackageVersion}", e.Message);
            Assert.Contains(Path.Combine(empty, "DnnImageModels"), e.Message);

            var run = CliRunner.Run("featurize", "--weights", $"{MLNetImageNetWeights.Name}:{empty}", "--images", fixture.Images[0], "--output", Path.Combine(empty, "f.csv"));
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains(MLNetImageNetWeights.PackageId, run.Error);
            Assert.False(File.Exists(Path.Combine(empty, "f.csv")));
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public void The_card_keeps_the_mean_image_bit_for_bit()
    {
        var card = MLNetImageNetWeights.LoadCard();
        var prep = card.Preprocessing;
        Assert.Equal((224, 224, 3 * 224 * 224), (prep.Resize, prep.Crop, prep.MeanImage!.Length));
        // 0–255 scale: the normalisation after the mean image is exactly the identity.
        Assert.Equal([1f, 1f, 1f], prep.Normalisation.Scale);
        Assert.Equal([0f, 0f, 0f], prep.Normalisation.Shift);
        var back = ModelCard.FromJson(card.ToJson()).Preprocessing.MeanImage!;
        Assert.True(prep.MeanImage.AsSpan().SequenceEqual(back));
        // RGB planes: the package's file holds BGR, whose blue plane has the lowest mean (≈103 of 0–255).
        Assert.True(prep.MeanImage.Take(224 * 224).Average() > prep.MeanImage.Skip(2 * 224 * 224).Average());
    }

    private static float[][] ReadFeatures(string csv) =>
        TestCsv.Read(csv).Skip(1).Select(r => r.Skip(1).Select(TestCsv.Float).ToArray()).ToArray();
}

/// <summary>Fine-tuning from mlnet-imagenet with a frozen, cached backbone learns new classes from a few images.</summary>
public sealed class MLNetImageNetFineTuneTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Fact]
    public void A_short_fine_tune_on_cached_frozen_features_beats_the_untrained_head()
    {
        string dir = scratch.New();
        try
        {
            // Three Imagenette classes: 4 training and 10 test photographs each. Ten test images per class keep the
            // verdict from hanging on one photograph (with 3 per class, 7 of 9 right on one CPU and 8 of 9 on another).
            var classes = Directory.GetDirectories(Path.Combine(TestPaths.Imagenette, "train")).Order(StringComparer.Ordinal).Take(3).ToArray();
            foreach (var (split, skip, take) in new[] { ("train", 0, 4), ("test", 4, 10) })
                foreach (var c in classes)
                {
                    string target = Directory.CreateDirectory(Path.Combine(dir, "data", split, Path.GetFileName(c))).FullName;
                    foreach (var f in Directory.GetFiles(c).Order(StringComparer.Ordinal).Skip(skip).Take(take))
                        File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
                }

            var (model, card) = MLNetImageNetWeights.Load();
            double untrained;
            using (model)
            {
                TorchSharp.torch.manual_seed(1);
                model.ReplaceHead(3);
                using var test = ResNet.Training.Data.ImageFolderDataset.Open(Path.Combine(dir, "data", "test"), card.Preprocessing);
                untrained = ResNet.Training.Training.Evaluator.Evaluate(model, test, TorchSharp.torch.CPU, workers: 1).Top1;
            }

            var run = CliRunner.Run("train", "--data", Path.Combine(dir, "data"), "--weights", MLNetImageNetWeights.Name, "--freeze", "backbone",
                "--epochs", "20", "--batch-size", "4", "--optimizer", "adamw", "--lr", "0.01", "--val-split", "0", "--output", Path.Combine(dir, "run"),
                "--device", "cpu", "--workers", "1");
            Assert.True(run.ExitCode == 0, run.Error + run.Out);
            Assert.Contains("caching layer4 activations of the training images and their mirror images: 12/12", run.Out);
            Assert.Contains("cached 12 training samples (two views each)", run.Out);
            var line = run.Out.Split('\n').Single(l => l.StartsWith("test accuracy: "));
            double tuned = double.Parse(line["test accuracy: ".Length..], CultureInfo.InvariantCulture);
            // Chance is 1/3; a head trained on 12 images of ImageNet features gets most of 30 new photographs right.
            Assert.True(tuned >= 0.7 && tuned >= untrained + 0.3, $"fine-tuned {tuned}, untrained head {untrained}");

            // The checkpoint is the whole network, with the card's mean image, and takes images again.
            var (saved, savedCard) = WeightsFile.Load(Path.Combine(dir, "run", "checkpoints", "last", "model.pt"));
            using (saved)
            {
                Assert.Equal((0, 3, 3 * 224 * 224), (saved.InputStage, saved.Config.NumClasses, savedCard.Preprocessing.MeanImage!.Length));
                Assert.Equal([2, 2, 2, 3], saved.Config.BlocksPerStage);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
