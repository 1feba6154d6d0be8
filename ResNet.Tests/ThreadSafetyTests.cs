using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;

namespace ResNet.Tests;

/// <summary>
/// The supported way to predict from many threads: one <see cref="PredictionEngine{TSrc,TDst}"/> per thread (what
/// Microsoft.Extensions.ML's PredictionEnginePool hands out), all from one fitted model, under concurrent load.
/// </summary>
[Collection(MLNetCollection.Name)]
public sealed class ThreadSafetyTests(MLNetFixture fx) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private sealed class Prediction
    {
        [VectorType(512)] public float[] Features { get; set; } = [];
    }

    [Fact(Skip = "Known bug found by this test: engines of one fitted model share ML.NET's OnnxModel, and concurrent Predict " +
        "calls fail with a NullReferenceException in InferenceSession.RunImpl (OnnxTransformer's per-row path). See docs/reliability.md.")]
    public void One_prediction_engine_per_thread_from_one_model_gives_the_same_features_concurrently()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 8 == 2).ToArray();
        var model = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize: 4))
            .Fit(MLNetFixture.Data(ml, files.Take(1)));
        var expected = FeaturesOnOneThread(ml, model, files);

        const int threads = 4;
        var results = new float[threads][][];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model);
            // Each thread walks the files from a different start, so the threads score different images at once.
            results[t] = [.. Enumerable.Range(0, files.Length).Select(i => engine.Predict(new MLNetFixture.ImageRow { ImagePath = files[(i + t * 3) % files.Length] }).Features)];
        });
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < files.Length; i++)
                Assert.True(OnnxTestModels.MaxAbsDiff(expected[(i + t * 3) % files.Length], results[t][i]) <= 1e-5, $"thread {t}, image {i}");
    }

    [Fact]
    public void One_loaded_model_and_engine_per_thread_gives_the_same_features_concurrently()
    {
        var ml = new MLContext(1);
        var files = fx.TestFiles.Where((_, i) => i % 8 == 2).ToArray();
        var data = MLNetFixture.Data(ml, files.Take(1));
        var model = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize: 4)).Fit(data);
        string zip = Path.Combine(scratch.New(), "featurizer.zip");
        ml.Model.Save(model, data.Schema, zip);
        var expected = FeaturesOnOneThread(ml, model, files);

        const int threads = 4;
        var results = new float[threads][][];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var context = new MLContext(1);
            var own = context.Model.Load(zip, out _);
            using var engine = context.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(own);
            results[t] = [.. Enumerable.Range(0, files.Length).Select(i => engine.Predict(new MLNetFixture.ImageRow { ImagePath = files[(i + t * 3) % files.Length] }).Features)];
        });
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < files.Length; i++)
                Assert.True(OnnxTestModels.MaxAbsDiff(expected[(i + t * 3) % files.Length], results[t][i]) <= 1e-5, $"thread {t}, image {i}");
    }

    /// <summary>The reference: every file's features through one <c>PredictionEngine</c> on this thread.</summary>
    private static float[][] FeaturesOnOneThread(MLContext ml, ITransformer model, string[] files)
    {
        using var single = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model);
        return [.. files.Select(f => single.Predict(new MLNetFixture.ImageRow { ImagePath = f }).Features)];
    }
}
