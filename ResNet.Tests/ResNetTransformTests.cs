using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Engines;
using ResNet.Training.Imaging;
using ResNet.Training.Onnx;

namespace ResNet.Tests;

/// <summary>The featurizer and classifier transforms on real CIFAR-10 images: schema, values, input kinds, errors.</summary>
[Collection(MLNetCollection.Name)]
public class ResNetTransformTests(MLNetFixture fx) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private (float[][] Features, float[][] Logits) Engine(IReadOnlyList<string> files)
    {
        using var engine = TorchSharpEngine.FromFile(fx.WeightsPath, DeviceChoice.Cpu);
        var input = OnnxTestModels.Normalised(OnnxTestModels.Resized(files, fx.Preprocessing), fx.Preprocessing);
        var output = engine.Run(input, files.Count);
        return (Enumerable.Range(0, files.Count).Select(i => output.FeaturesOf(i).ToArray()).ToArray(),
            Enumerable.Range(0, files.Count).Select(i => output.LogitsOf(i).ToArray()).ToArray());
    }

    private sealed class ClassName
    {
        public string Label { get; set; } = "";
    }

    private static string[] Names(DataViewSchema.Column column, bool slotNames)
    {
        var names = default(VBuffer<ReadOnlyMemory<char>>);
        if (slotNames) column.GetSlotNames(ref names); else column.GetKeyValues(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToArray();
    }

    [Fact]
    public void Featurizer_gives_512_features_equal_to_the_TorchSharp_engine()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 5 == 0).ToArray();
        var data = MLNetFixture.Data(ml, files);
        var pipeline = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize: 8));
        var output = pipeline.Fit(data).Transform(data);

        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 512), output.Schema["Features"].Type);
        var features = output.GetColumn<float[]>("Features").ToArray();
        var expected = Engine(files).Features;
        Assert.Equal(files.Length, features.Length);
        for (int i = 0; i < files.Length; i++)
            Assert.True(OnnxTestModels.MaxAbsDiff(expected[i], features[i]) <= 1e-4, $"row {i} differs from the TorchSharp engine");
        Assert.Contains(features.SelectMany(f => f), v => v != 0);
    }

    [Fact]
    public void Classifier_scores_are_probabilities_with_class_names_and_match_the_engine()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 4 == 0).ToArray();
        var data = MLNetFixture.Data(ml, files);
        var pipeline = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier("Image", fx.Weights))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
        var output = pipeline.Fit(data).Transform(data);

        var score = output.Schema["Score"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 10), score.Type);
        Assert.Equal(fx.ClassNames, Names(score, slotNames: true));
        var predicted = output.Schema["PredictedLabel"];
        Assert.Equal(new KeyDataViewType(typeof(uint), 10), predicted.Type);
        Assert.Equal(fx.ClassNames, Names(predicted, slotNames: false));

        var scores = output.GetColumn<float[]>("Score").ToArray();
        var names = output.GetColumn<string>("PredictedLabelValue").ToArray();
        var logits = Engine(files).Logits;
        for (int i = 0; i < files.Length; i++)
        {
            var max = logits[i].Max();
            var exp = logits[i].Select(l => Math.Exp(l - max)).ToArray();
            var softmax = exp.Select(e => (float)(e / exp.Sum())).ToArray();
            Assert.True(OnnxTestModels.MaxAbsDiff(softmax, scores[i]) <= 1e-4, $"row {i}: Score is not the softmax of the engine's logits");
            Assert.Equal(fx.ClassNames[Array.IndexOf(logits[i], max)], names[i]);
        }
    }

    [Fact]
    public void Classifier_and_featurizer_match_predict_and_featurize_on_the_command_line()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 9 == 2).ToArray();
        var data = MLNetFixture.Data(ml, files);
        var output = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier(new ResNet18ClassifierEstimator.Options
            {
                InputColumnName = "Image", Weights = fx.Weights, FeaturesColumnName = "Features",
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("Name", "PredictedLabel"))
            .Fit(data).Transform(data);
        var scores = output.GetColumn<float[]>("Score").ToArray();
        var features = output.GetColumn<float[]>("Features").ToArray();
        var names = output.GetColumn<string>("Name").ToArray();

        string dir = scratch.New(), predictions = Path.Combine(dir, "p.csv"), featureCsv = Path.Combine(dir, "f.csv");
        string[] common = ["--weights", fx.WeightsPath, "--device", "cpu", "--on-error", "fail", "--images", .. files];
        var run = CliRunner.Run(["predict", .. common, "--output", predictions]);
        Assert.True(run.ExitCode == 0, run.Error);
        run = CliRunner.Run(["featurize", .. common, "--output", featureCsv]);
        Assert.True(run.ExitCode == 0, run.Error);

        var p = TestCsv.Read(predictions);
        var f = TestCsv.Read(featureCsv).Skip(1).ToArray();
        Assert.Equal(fx.ClassNames, p[0][3..]);
        Assert.Equal(files.Length + 1, p.Count);
        for (int i = 0; i < files.Length; i++)
        {
            var row = p[i + 1];
            Assert.Equal(Path.GetFullPath(files[i]), Path.GetFullPath(row[0]));
            Assert.Equal(names[i], row[1]);
            Assert.True(OnnxTestModels.MaxAbsDiff(scores[i], row[3..].Select(TestCsv.Float).ToArray()) <= 1e-4, $"probabilities of {files[i]}");
            Assert.True(OnnxTestModels.MaxAbsDiff(features[i], f[i][1..].Select(TestCsv.Float).ToArray()) <= 1e-4, $"features of {files[i]}");
        }
    }

    [Fact]
    public void Classifier_output_evaluates_directly_against_a_key_label()
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, fx.TestFiles);
        var classNames = ml.Data.LoadFromEnumerable(fx.ClassNames.Select(n => new ClassName { Label = n }));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyData: classNames)
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResNet18Classifier("Image", fx.Weights));
        var output = pipeline.Fit(data).Transform(data);
        var metrics = ml.MulticlassClassification.Evaluate(output);

        var predicted = output.GetColumn<uint>("PredictedLabel").ToArray();
        var labels = output.GetColumn<uint>("Label").ToArray();
        double accuracy = predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;
        Assert.Equal(accuracy, metrics.MicroAccuracy, 6);
        Assert.Equal(10, metrics.PerClassLogLoss.Count);
    }

    [Fact]
    public void Features_with_LbfgsMaximumEntropy_classify_cifar_above_chance()
    {
        var ml = new MLContext(1);
        var files = fx.TrainFiles.Concat(fx.TestFiles).ToArray();
        var features = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights))
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"));
        var data = MLNetFixture.Data(ml, files);
        var featurized = ml.Data.Cache(features.Fit(data).Transform(data), "Label", "Features");
        var classifier = ml.Transforms.NormalizeMeanVariance("Features")
            .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"));
        // Five-fold cross-validation scores every one of the 300 images once, by a model that never saw it.
        var folds = ml.MulticlassClassification.CrossValidate(featurized, classifier, numberOfFolds: 5, seed: 1);
        int right = 0, total = 0;
        foreach (var fold in folds)
        {
            var predicted = fold.ScoredHoldOutSet.GetColumn<uint>("PredictedLabel").ToArray();
            var labels = fold.ScoredHoldOutSet.GetColumn<uint>("Label").ToArray();
            right += predicted.Zip(labels).Count(p => p.First == p.Second);
            total += labels.Length;
        }
        Assert.Equal(files.Length, total);
        // 10 balanced classes: features that carry no information score Binomial(300, 0.1), mean 30; P(≥ 48 right) < 0.001.
        // Random-weight ResNet features are weak but informative: 59 of 300 when this was written.
        Assert.True(right >= 48, $"{right} of {total} right");
    }

    [Fact]
    public void Images_raw_bytes_and_pixel_vectors_give_the_same_features()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 10 == 3).ToArray();
        var data = MLNetFixture.Data(ml, files);
        float[][] Run(IEstimator<ITransformer> load, string column) =>
            load.Append(ml.Transforms.ResNet18Featurizer("Features", column, fx.Weights, batchSize: 4))
                .Fit(data).Transform(data).GetColumn<float[]>("Features").ToArray();

        var fromImages = Run(ml.Transforms.LoadImages("Image", null, "ImagePath"), "Image");
        var fromBytes = Run(ml.Transforms.LoadRawImageBytes("Bytes", null, "ImagePath"), "Bytes");
        var fromPixels = Run(ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ImageLoader.ResizeAndExtract(ml, "Image", "Pixels", fx.Preprocessing.Resize)), "Pixels");
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(fromImages[i], fromBytes[i]);
            Assert.Equal(fromImages[i], fromPixels[i]);
        }
    }

    [Fact]
    public void Weights_from_an_exported_onnx_model_give_the_same_features_as_the_pt_file()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 20 == 7).ToArray();
        var data = MLNetFixture.Data(ml, files);
        string dir = scratch.New(), withPrep = Path.Combine(dir, "with.onnx"), without = Path.Combine(dir, "without.onnx");
        OnnxExporter.Export(fx.WeightsPath, withPrep, new OnnxExportOptions { WithPreprocessing = true });
        OnnxExporter.Export(fx.WeightsPath, without, new OnnxExportOptions());

        var onnx = ResNet18Weights.FromFile(withPrep);
        Assert.Equal(fx.ClassNames, onnx.Card.ClassNames);
        Assert.Equal(fx.Preprocessing.Resize, onnx.Card.Preprocessing.Resize);
        float[][] Features(ResNet18Weights weights) => ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", weights)).Fit(data).Transform(data)
            .GetColumn<float[]>("Features").ToArray();
        var expected = Features(fx.Weights);
        var actual = Features(onnx);
        for (int i = 0; i < files.Length; i++)
            Assert.True(OnnxTestModels.MaxAbsDiff(expected[i], actual[i]) <= 1e-5, $"row {i}");

        var e = Assert.Throws<InvalidDataException>(() => ResNet18Weights.FromFile(without));
        Assert.Contains("--with-preprocessing", e.Message);
        Assert.Throws<FileNotFoundException>(() => ResNet18Weights.FromFile(Path.Combine(dir, "none.pt")));
    }

    [Fact]
    public void Wrong_input_columns_fail_with_a_message_that_says_what_to_add()
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, fx.TestFiles.Take(2));

        var text = ml.Transforms.ResNet18Featurizer("Features", "ImagePath", fx.Weights);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => text.Fit(data));
        Assert.Contains("'ImagePath' is String", e.Message);
        Assert.Contains("LoadImages(\"ImagePath\"", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => text.GetOutputSchema(SchemaShapeOf(data)));
        Assert.Contains("'ImagePath' is String", e.Message);

        var missing = ml.Transforms.ResNet18Classifier("Image", fx.Weights);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => missing.Fit(data));
        Assert.Contains("'Image' is not in the data", e.Message);

        var wrongSize = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ImageLoader.ResizeAndExtract(ml, "Image", "Pixels", 32))
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Pixels", fx.Weights));
        e = Assert.Throws<ArgumentOutOfRangeException>(() => wrongSize.Fit(data));
        Assert.Contains("'Pixels' is Vector<Single, 3, 32, 32>", e.Message);
        Assert.Contains("not 3×36×36 = 3888", e.Message);

        // A fitted transformer checks the data it is given too.
        var fitted = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights)).Fit(data);
        var other = ml.Data.LoadFromEnumerable(new[] { new { Image = 1f } });
        e = Assert.Throws<ArgumentOutOfRangeException>(() => fitted.LastTransformer.Transform(other));
        Assert.Contains("'Image' is Single", e.Message);
    }

    private static SchemaShape SchemaShapeOf(IDataView data) => MLNetInternals.ShapeOf(data.Schema);

    [Fact]
    public void A_missing_or_corrupt_image_among_good_ones_fails_naming_the_file()
    {
        var ml = new MLContext(1);
        string dir = scratch.New();
        string corrupt = Path.Combine(dir, "corrupt.png"), missing = Path.Combine(dir, "missing.png");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(fx.TestFiles[0]).Take(40).ToArray());
        var model = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier("Image", fx.Weights, batchSize: 4))
            .Fit(MLNetFixture.Data(ml, fx.TestFiles.Take(2)));
        foreach (var bad in new[] { corrupt, missing })
        {
            var files = fx.TestFiles.Take(5).Append(bad).Concat(fx.TestFiles.Skip(5).Take(3)).ToArray();
            var output = model.Transform(MLNetFixture.Data(ml, files));
            var e = Assert.ThrowsAny<Exception>(() => output.GetColumn<uint>("PredictedLabel").ToArray());
            // ML.NET's parallel cursors wrap the error ("Splitter/consolidator worker encountered exception…").
            string messages = string.Join(" | ", Chain(e).Select(x => x.Message));
            Assert.Contains($"ImagePath = '{bad}'", messages);
            Assert.Contains("Nothing is skipped silently", messages);
            // Columns that do not need the image still read.
            Assert.Equal(files, output.GetColumn<string>("ImagePath").ToArray());
        }
    }

    private static IEnumerable<Exception> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException) yield return e;
    }

    [Fact]
    public void A_model_over_raw_bytes_scores_in_process_but_refuses_to_save()
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, fx.TestFiles.Take(3));
        var model = ml.Transforms.LoadRawImageBytes("Bytes", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier("Bytes", fx.Weights)).Fit(data);
        Assert.Equal(3, model.Transform(data).GetColumn<float[]>("Score").Count());
        var e = Assert.Throws<NotSupportedException>(() => ml.Model.Save(model, data.Schema, Path.Combine(fx.Dir, "bytes.zip")));
        Assert.Contains("LoadImages(\"Bytes\"", e.Message);
    }
}
