using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.Tests;

/// <summary>
/// One resize for training and serving: a model of the main job's kind (ResNet18 layout, ImageNet stem, Fashion-MNIST at
/// 32²; narrowed to width 16 and trained briefly so the test stays fast) scores the same on the bundled 2,000 test images
/// through the IDX path (<c>evaluate --data fashion-mnist:…</c>), as PNG files through <c>evaluate</c> and <c>predict</c>,
/// and through <c>ml.Transforms.ResNet18Classifier</c>.
/// </summary>
public sealed class ResizeParityTests : IDisposable
{
    private readonly ScratchFolders scratch = new();
    private static string FashionSmall => Path.Combine(TestPaths.RepoRoot, "data", "fashion-mnist-small");

    [Fact]
    public void Fashion_mnist_images_resize_to_the_same_pixels_from_IDX_and_from_PNG_files()
    {
        string dir = scratch.New();
        var (_, rows, cols, pixels) = IdxFile.ReadImages(Path.Combine(FashionSmall, "t10k-images-idx3-ubyte.gz"));
        var dataset = FashionMnist.Load(FashionSmall, "t10k", 32, Augmentation.None);
        using var loader = new ImageLoader(32);
        var fromIdx = new float[dataset.Preprocessing.InputLength];
        for (int i = 0; i < 20; i++)
        {
            string png = WritePng(pixels.AsSpan(i * rows * cols, rows * cols), cols, rows, Path.Combine(dir, $"{i}.png"));
            Assert.True(dataset.TryRead(i, null, fromIdx));
            Assert.Equal(fromIdx, dataset.Preprocessing.CropAndNormalise(loader.Load(png)));
        }
    }

    [Fact]
    public void A_fashion_mnist_model_scores_the_same_through_IDX_PNG_files_and_ML_NET()
    {
        string dir = scratch.New();
        string weights = Path.Combine(dir, "model", "fashion.pt");
        TrainSmallModel(weights);

        var idx = CliRunner.Run("evaluate", "--weights", weights, "--data", $"fashion-mnist:{FashionSmall}", "--device", "cpu");
        Assert.True(idx.ExitCode == 0, idx.Error);
        double idxAccuracy = AccuracyLine(idx.Out);
        Assert.True(idxAccuracy > 0.5, $"The model should have learnt something (accuracy {idxAccuracy}).");

        string pngs = WriteTestImagesAsPngs(Path.Combine(dir, "png"));
        var folder = CliRunner.Run("evaluate", "--weights", weights, "--data", pngs, "--device", "cpu");
        Assert.True(folder.ExitCode == 0, folder.Error);
        Assert.Equal(idxAccuracy, AccuracyLine(folder.Out), 0.002);

        string csv = Path.Combine(dir, "predictions.csv");
        var predict = CliRunner.Run("predict", "--weights", weights, "--images", pngs, "--output", csv, "--device", "cpu", "--top", "1");
        Assert.True(predict.ExitCode == 0, predict.Error);
        var predictions = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(2000, predictions.Count);
        double predictAccuracy = predictions.Average(f => Path.GetFileName(Path.GetDirectoryName(f[0]))! == f[1] ? 1.0 : 0.0);
        Assert.Equal(idxAccuracy, predictAccuracy, 0.002);

        var ml = new MLContext(seed: 1);
        var rows = Directory.GetFiles(pngs, "*.png", SearchOption.AllDirectories)
            .Select(p => new ImageRow { ImagePath = p, Label = Path.GetFileName(Path.GetDirectoryName(p))! }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var classes = ml.Data.LoadFromEnumerable(ModelCard.NumberedClasses(10).Select(c => new ClassRow { Label = c }));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyData: classes)
            .Append(ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageRow.ImagePath)))
            .Append(ml.Transforms.ResNet18Classifier("Image", ResNet18Weights.FromFile(weights)));
        using var model = (IDisposable)pipeline.Fit(data);
        var metrics = ml.MulticlassClassification.Evaluate(((ITransformer)model).Transform(data));
        Assert.Equal(idxAccuracy, metrics.MicroAccuracy, 0.002);
    }

    private static void TrainSmallModel(string weights)
    {
        var preprocessing = FashionMnist.PreprocessingFor(32);
        var train = FashionMnist.Load(FashionSmall, "train", 32);
        torch.manual_seed(1);
        using var model = new ResNetModel(ResNetConfig.ResNet18(10, StemKind.ImageNet) with { Widths = [16, 16, 16, 16] });
        new Trainer(new TrainingOptions { Epochs = 3, BatchSize = 64, LearningRate = 0.05, Seed = 1, Workers = 2 })
            .Fit(model, new SubsetDataset(train, Enumerable.Range(0, 4000).ToArray()));
        Directory.CreateDirectory(Path.GetDirectoryName(weights)!);
        WeightsFile.Save(model, new ModelCard { Architecture = model.Config, Preprocessing = preprocessing }, weights);
    }

    /// <summary>The bundled test images as PNGs in class folders named 0–9 (the card's numbered class names).</summary>
    private static string WriteTestImagesAsPngs(string root)
    {
        var (count, rows, cols, pixels) = IdxFile.ReadImages(Path.Combine(FashionSmall, "t10k-images-idx3-ubyte.gz"));
        var labels = IdxFile.ReadLabels(Path.Combine(FashionSmall, "t10k-labels-idx1-ubyte.gz"));
        for (int c = 0; c < 10; c++) Directory.CreateDirectory(Path.Combine(root, c.ToString(CultureInfo.InvariantCulture)));
        for (int i = 0; i < count; i++)
            WritePng(pixels.AsSpan(i * rows * cols, rows * cols), cols, rows, Path.Combine(root, labels[i].ToString(CultureInfo.InvariantCulture), $"{i:D4}.png"));
        return root;
    }

    private static string WritePng(ReadOnlySpan<byte> gray, int width, int height, string path)
    {
        var rgba = new byte[gray.Length * 4];
        for (int p = 0; p < gray.Length; p++) rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = gray[p];
        for (int p = 0; p < gray.Length; p++) rgba[4 * p + 3] = 255;
        using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Rgba32, rgba);
        image.Save(path);
        return path;
    }

    private static double AccuracyLine(string output) =>
        double.Parse(output.Split('\n').Single(l => l.StartsWith("accuracy: ", StringComparison.Ordinal))["accuracy: ".Length..].Trim(), CultureInfo.InvariantCulture);

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
    }

    private sealed class ClassRow
    {
        public string Label { get; set; } = "";
    }

    public void Dispose() => scratch.Dispose();
}
