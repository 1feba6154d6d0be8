using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;

namespace ResNet.Tests;

/// <summary><c>ml.MulticlassClassification.Trainers.ResNet18</c>: fine-tuning inside Fit on real CIFAR-10 images.</summary>
[Collection(MLNetCollection.Name)]
public class ResNetTrainerTests(MLNetFixture fx) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private static readonly string[] Classes = ["airplane", "frog", "truck"];

    private sealed class KeyRow
    {
        [KeyType(3)] public uint Label { get; set; }
    }

    [Fact]
    public void A_key_label_without_key_values_numbers_the_classes_like_weights_without_names()
    {
        var schema = new MLContext(1).Data.LoadFromEnumerable(new[] { new KeyRow { Label = 1 } }).Schema;
        Assert.Equal(["0", "1", "2"], TrainingImages.ClassNames(schema, "Label", "test"));
    }

    [Fact]
    public void Fit_fine_tunes_beats_the_initial_weights_logs_progress_and_saves_a_stock_model()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { if (e.Source.Contains("ResNet18")) lock (log) log.Add(e.Message); };
        string[] Pick(string[] files, int count) =>
            files.Where(f => Classes.Contains(Path.GetFileName(Path.GetDirectoryName(f)))).GroupBy(f => Path.GetDirectoryName(f))
                .SelectMany(g => g.Take(count)).ToArray();
        var trainFiles = Pick(fx.TrainFiles, 20);
        var testFiles = Pick(fx.TestFiles, 10);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(MLNetFixture.Data(ml, trainFiles));
        var train = toKey.Transform(MLNetFixture.Data(ml, trainFiles));
        var test = toKey.Transform(MLNetFixture.Data(ml, testFiles));
        string weightsPath = Path.Combine(fx.Dir, "fine-tuned.pt");

        var loadImages = ml.Transforms.LoadImages("Image", null, "ImagePath");
        var options = new ResNet18TrainerOptions
        {
            Epochs = 5, BatchSize = 16, LearningRate = 0.01, InitialWeights = fx.Weights,
            ValidationSet = loadImages.Fit(train).Transform(test), FeaturesColumnName = "Features", SaveWeightsTo = weightsPath,
        };
        var model = loadImages.Append(ml.MulticlassClassification.Trainers.ResNet18("Label", "Image", options)).Fit(train);
        // The initial weights get a fresh 3-class head: before fine-tuning they are at chance (1/3); one epoch of
        // learning rate 0 measures exactly that.
        var untrained = loadImages.Append(ml.MulticlassClassification.Trainers.ResNet18("Label", "Image",
            new ResNet18TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 1e-12, InitialWeights = fx.Weights })).Fit(train);
        var before = ml.MulticlassClassification.Evaluate(untrained.Transform(test));
        var scored = model.Transform(test);
        var after = ml.MulticlassClassification.Evaluate(scored);

        // 30 test images: 15 right where chance gives 10 (P ≈ 0.04 by luck); the training above reaches 0.5–0.7.
        Assert.True(after.MicroAccuracy >= before.MicroAccuracy + 0.15,
            $"accuracy {before.MicroAccuracy:F3} before fine-tuning, {after.MicroAccuracy:F3} after\n{string.Join("\n", log)}");
        Assert.Contains(log, m => m.Contains("epoch 5/5") && m.Contains("validation loss"));
        Assert.Contains(log, m => m.Contains("Fine-tuning") && m.Contains("60 images of 3 classes"));
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 512), scored.Schema["Features"].Type);
        var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        Assert.Equal(Classes, slotNames.DenseValues().Select(n => n.ToString()));
        Assert.Equal(Classes, ResNet18Weights.FromFile(weightsPath).Card.ClassNames);

        // The trained pipeline saves as stock transformers and gives the same scores in a fresh, TorchSharp-free process.
        var files = testFiles.Where((_, i) => i % 5 == 0).ToArray();
        string dir = scratch.New(), zip = Path.Combine(dir, "trained.zip"), images = Path.Combine(dir, "images.txt");
        var inputs = MLNetFixture.Data(ml, files);
        ml.Model.Save(model, inputs.Schema, zip);
        File.WriteAllLines(images, files);
        Processes.Run("dotnet", $"\"{fx.LoaderDll}\" \"{zip}\" \"{images}\" \"{dir}/out.tsv\" Score", dir);
        var expected = model.Transform(inputs).GetColumn<float[]>("Score").ToArray();
        var actual = File.ReadAllLines(Path.Combine(dir, "out.tsv")).Select(line => TestCsv.Floats(line)).ToArray();
        Assert.Equal(files.Length, actual.Length);
        for (int i = 0; i < files.Length; i++)
            Assert.True(OnnxTestModels.MaxAbsDiff(expected[i], actual[i]) <= 1e-4, $"scores of row {i}");
    }

    [Fact]
    public void A_label_that_is_not_a_key_fails_with_what_to_add()
    {
        var ml = new MLContext(seed: 1);
        var data = MLNetFixture.Data(ml, fx.TrainFiles.Take(4));
        var trainer = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.MulticlassClassification.Trainers.ResNet18("Label", "Image", new ResNet18TrainerOptions { InitialWeights = fx.Weights }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(data));
        Assert.Contains("'Label' is String", e.Message);
        Assert.Contains("MapValueToKey(\"Label\")", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(MLNetInternals.ShapeOf(data.Schema)));
        Assert.Contains("MapValueToKey(\"Label\")", e.Message);
    }
}
