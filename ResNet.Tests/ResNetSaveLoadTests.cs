using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms.Onnx;
using ResNet.MLNet;

namespace ResNet.Tests;

/// <summary>
/// A saved featurizer or classifier reloads in a fresh process that references only stock ML.NET and ONNX Runtime
/// (samples/OnnxOnlyLoader: no ResNet.MLNet, no TorchSharp) and gives the in-process outputs.
/// </summary>
[Collection(MLNetCollection.Name)]
public class ResNetSaveLoadTests(MLNetFixture fx) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();


    [Fact]
    public void Saved_models_reload_in_a_fresh_process_without_TorchSharp_and_give_the_same_outputs()
    {
        string dir = scratch.New(), dll = fx.LoaderDll, loader = Path.GetDirectoryName(dll)!;
        var binaries = Directory.GetFiles(loader, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(binaries, f => f!.Contains("TorchSharp", StringComparison.OrdinalIgnoreCase) || f.StartsWith("ResNet", StringComparison.Ordinal));
        Assert.Contains("Microsoft.ML.OnnxTransformer.dll", binaries);

        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 8 == 0).ToArray();
        var data = MLNetFixture.Data(ml, files);
        string images = Path.Combine(dir, "images.txt");
        File.WriteAllLines(images, files);

        var featurizer = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights)).Fit(data);
        var classifier = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier(new ResNet18ClassifierEstimator.Options
            {
                InputColumnName = "Image", Weights = fx.Weights, FeaturesColumnName = "Features", BatchSize = 5,
            })).Fit(data);
        string featurizerZip = Path.Combine(dir, "featurizer.zip"), classifierZip = Path.Combine(dir, "classifier.zip");
        ml.Model.Save(featurizer, data.Schema, featurizerZip);
        ml.Model.Save(classifier, data.Schema, classifierZip);

        var features = featurizer.Transform(data).GetColumn<float[]>("Features").ToArray();
        var classified = classifier.Transform(data);
        var scores = classified.GetColumn<float[]>("Score").ToArray();
        var classFeatures = classified.GetColumn<float[]>("Features").ToArray();
        var labels = ml.Transforms.Conversion.MapKeyToValue("Name", "PredictedLabel").Fit(classified).Transform(classified)
            .GetColumn<string>("Name").ToArray();

        Processes.Run("dotnet", $"\"{dll}\" \"{featurizerZip}\" \"{images}\" \"{dir}/f.tsv\" Features", dir);
        var log = Processes.Run("dotnet", $"\"{dll}\" \"{classifierZip}\" \"{images}\" \"{dir}/c.tsv\" Score PredictedLabel Features", dir);
        Assert.Contains($"scored {files.Length} images", log);

        var f = File.ReadAllLines(Path.Combine(dir, "f.tsv"));
        var c = File.ReadAllLines(Path.Combine(dir, "c.tsv")).Select(l => l.Split('\t')).ToArray();
        Assert.Equal(files.Length, f.Length);
        Assert.Equal(files.Length, c.Length);
        for (int i = 0; i < files.Length; i++)
        {
            Assert.True(OnnxTestModels.MaxAbsDiff(features[i], TestCsv.Floats(f[i])) <= 1e-4, $"features of row {i}");
            Assert.True(OnnxTestModels.MaxAbsDiff(scores[i], TestCsv.Floats(c[i][0])) <= 1e-4, $"scores of row {i}");
            Assert.Equal(labels[i], c[i][1]);
            Assert.True(OnnxTestModels.MaxAbsDiff(classFeatures[i], TestCsv.Floats(c[i][2])) <= 1e-4, $"classifier features of row {i}");
        }
    }

    [Fact]
    public void A_reloaded_model_is_made_of_stock_ML_NET_transformers_with_the_same_schema()
    {
        var (ml, data, model, zip) = SavedClassifier(3);
        var reloaded = ml.Model.Load(zip, out var inputSchema);

        Assert.Equal(data.Schema.Select(c => c.Name), inputSchema.Select(c => c.Name));
        Assert.DoesNotContain(Flatten(reloaded), t => t.GetType().Assembly.GetName().Name!.StartsWith("ResNet", StringComparison.Ordinal));
        var expected = model.Transform(data).Schema;
        var actual = reloaded.Transform(data).Schema;
        Assert.Equal(expected.Select(c => (c.Name, c.Type)), actual.Select(c => (c.Name, c.Type)));
        Assert.Equal(expected["Score"].Annotations.Schema.Select(a => a.Name).Order(), actual["Score"].Annotations.Schema.Select(a => a.Name).Order());
    }

    [Fact]
    public void A_saved_model_loads_with_the_ONNX_Runtime_session_options_of_the_context_that_loads_it()
    {
        // docs/mlnet.md, "Speed of a reloaded model": the zip holds no session options, so an app sets its threads on
        // the loading MLContext. This checks that ML.NET builds the reloaded model's session from them, and that the
        // scores do not change.
        var (_, data, model, zip) = SavedClassifier(4);
        var app = new MLContext(1);
        int sessionsBuilt = 0;
        app.SetOnnxSessionOption(new OnnxSessionOptions
        {
            CreateSessionOptions = () =>
            {
                sessionsBuilt++;
                return new SessionOptions { IntraOpNumThreads = 2 };
            },
        });
        var reloaded = app.Model.Load(zip, out _);

        Assert.Equal(1, sessionsBuilt); // the model's one OnnxTransformer, built from the app's options
        var expected = model.Transform(data).GetColumn<float[]>("Score").ToArray();
        var actual = reloaded.Transform(data).GetColumn<float[]>("Score").ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(OnnxTestModels.MaxAbsDiff(expected[i], actual[i]) <= 1e-4, $"scores of row {i}");
    }

    /// <summary>A classifier fitted on <paramref name="rows"/> test images and saved to a zip.</summary>
    private (MLContext Ml, IDataView Data, ITransformer Model, string Zip) SavedClassifier(int rows)
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, fx.TestFiles.Take(rows));
        var model = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Classifier("Image", fx.Weights)).Fit(data);
        string zip = Path.Combine(scratch.New(), "model.zip");
        ml.Model.Save(model, data.Schema, zip);
        return (ml, data, model, zip);
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer t) =>
        t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [t];
}
