using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;

namespace ResNet.Tests;

/// <summary>
/// Predicting from many threads (docs/mlnet.md, "Predicting from many threads"): one <see cref="PredictionEngine{TSrc,TDst}"/>
/// per thread or from a pool, all from one model created with <c>OwnsTransformer = false</c>, under concurrent load; and
/// the two ways to get it wrong (an engine that disposes the shared model, one engine shared by threads) fail with
/// managed exceptions that name the fix instead of touching freed native memory.
/// </summary>
[Collection(MLNetCollection.Name)]
public sealed class ThreadSafetyTests(MLNetFixture fx) : IDisposable
{
    private const int Threads = 4;
    private static readonly PredictionEngineOptions Shared = new() { OwnsTransformer = false };
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private sealed class Prediction
    {
        [VectorType(512)] public float[] Features { get; set; } = [];
    }

    private string[] Files => fx.TestFiles.Where((_, i) => i % 8 == 2).ToArray();

    private static MLNetFixture.ImageRow Row(string file) => new() { ImagePath = file };

    private ITransformer Fit(MLContext ml) =>
        ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize: 4))
            .Fit(MLNetFixture.Data(ml, Files.Take(1)));

    [Fact]
    public void One_prediction_engine_per_thread_from_one_model_gives_the_same_features_concurrently()
    {
        var ml = new MLContext(1);
        var files = Files;
        var model = Fit(ml);
        using var owner = (IDisposable)model;
        var expected = FeaturesOnOneThread(ml, model, files);

        var results = new float[Threads][][];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model, Shared);
            // Each thread walks the files from a different start, so the threads score different images at once.
            results[t] = [.. Enumerable.Range(0, files.Length).Select(i => engine.Predict(Row(files[(i + t * 3) % files.Length])).Features)];
        });
        for (int t = 0; t < Threads; t++)
            for (int i = 0; i < files.Length; i++)
                Assert.True(OnnxTestModels.MaxAbsDiff(expected[(i + t * 3) % files.Length], results[t][i]) <= 1e-5, $"thread {t}, image {i}");
    }

    /// <summary>Creates engines that leave the model alone when the pool disposes them (engines beyond what it retains).</summary>
    private sealed class EnginePolicy(MLContext ml, ITransformer model) : PooledObjectPolicy<PredictionEngine<MLNetFixture.ImageRow, Prediction>>
    {
        public override PredictionEngine<MLNetFixture.ImageRow, Prediction> Create() =>
            ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model, Shared);

        public override bool Return(PredictionEngine<MLNetFixture.ImageRow, Prediction> engine) => true;
    }

    [Fact]
    public void A_pool_of_engines_over_one_saved_and_loaded_model_serves_concurrent_requests()
    {
        var ml = new MLContext(1);
        var files = Files;
        string zip = Path.Combine(scratch.New(), "featurizer.zip");
        var fitted = Fit(ml);
        ml.Model.Save(fitted, MLNetFixture.Data(ml, files.Take(1)).Schema, zip);
        ((IDisposable)fitted).Dispose();
        // What a web app deploys: the saved stock chain (OnnxTransformer), loaded once, shared by every request.
        var loaded = ml.Model.Load(zip, out _);
        using var owner = (IDisposable)loaded;
        var expected = FeaturesOnOneThread(ml, loaded, files);

        // Keeping 2 engines for 4 threads makes the pool dispose the extra engines it gets back, as a busy server's pool does.
        var pool = new DefaultObjectPoolProvider { MaximumRetained = 2 }.Create(new EnginePolicy(ml, loaded));
        var results = new float[files.Length * 3][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = Threads }, request =>
        {
            var engine = pool.Get();
            try
            {
                results[request] = engine.Predict(Row(files[request % files.Length])).Features;
            }
            finally
            {
                pool.Return(engine);
            }
        });
        for (int r = 0; r < results.Length; r++)
            Assert.True(OnnxTestModels.MaxAbsDiff(expected[r % files.Length], results[r]) <= 1e-5, $"request {r}");
        (pool as IDisposable)?.Dispose();
    }

    [Fact]
    public void An_engine_that_disposed_the_shared_model_leaves_a_managed_error_that_names_the_fix()
    {
        var ml = new MLContext(1);
        var model = Fit(ml);
        using var other = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model);
        using (var first = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model))
            Assert.Equal(512, first.Predict(Row(Files[0])).Features.Length);
        // ML.NET's default (OwnsTransformer = true) disposed the model with the first engine; the second must not reach freed native memory.
        var e = Assert.Throws<ObjectDisposedException>(() => other.Predict(Row(Files[1])));
        Assert.Contains("column 'Image' (ResNet18Featurizer): this model was disposed", e.Message);
        Assert.Contains("new PredictionEngineOptions { OwnsTransformer = false }", e.Message);
    }

    [Fact]
    public void One_engine_shared_by_threads_fails_with_a_managed_error_instead_of_crashing()
    {
        var ml = new MLContext(1);
        var files = Files;
        var model = Fit(ml);
        using var owner = (IDisposable)model;
        using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model, Shared);
        var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        // In each round the threads start their calls together (a barrier), so the calls overlap; rounds go on until
        // some thread has been refused. Without the barrier, a busy machine could serialise all 200 calls (seen once).
        using var start = new Barrier(Threads);
        using var end = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < 50; i++)
            {
                start.SignalAndWait();
                try
                {
                    engine.Predict(Row(files[(i + t) % files.Length]));
                }
                catch (Exception e)
                {
                    errors.Add(e);
                }
                end.SignalAndWait(); // every call of the round has ended: all threads see the same errors
                if (!errors.IsEmpty) break;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.NotEmpty(errors);
        foreach (var e in errors)
        {
            var refused = Assert.IsType<InvalidOperationException>(e);
            Assert.Contains("two threads are using one PredictionEngine at once", refused.Message);
            Assert.Contains("OwnsTransformer = false", refused.Message);
        }
        // The engine still works once it is used from one thread at a time.
        Assert.Equal(512, engine.Predict(Row(files[0])).Features.Length);
    }

    /// <summary>The reference: every file's features through one <c>PredictionEngine</c> on this thread.</summary>
    private static float[][] FeaturesOnOneThread(MLContext ml, ITransformer model, string[] files)
    {
        using var single = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model, Shared);
        return [.. files.Select(f => single.Predict(Row(f)).Features)];
    }
}
