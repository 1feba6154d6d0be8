using ResNet.Training.Engines;
using ResNet.Training.Imaging;

namespace ResNet.Cli;

/// <summary>
/// Runs an engine over image files in batches: decode and resize (<see cref="ImageLoader"/>), then
/// <see cref="IResNetEngine.RunResized"/>, which crops and normalises as the engine's card says (in C#, or inside the
/// graph of an ONNX model exported with preprocessing) and runs the forward pass. The next batch is decoded while the engine
/// runs the current one. Unreadable images are skipped or fail the run per <see cref="OnErrorPolicy"/>.
/// </summary>
internal static class BatchInference
{
    /// <summary>Images that went through and images skipped.</summary>
    public readonly record struct Summary(int Done, int Skipped);

    private sealed record Batch(List<string> Paths, float[] Input);

    /// <summary>
    /// Calls <paramref name="onImage"/> with each readable image's path, the batch output and its row, in input order.
    /// Throws <see cref="ImageDecodeException"/> on the first unreadable image under <see cref="OnErrorPolicy.Fail"/>,
    /// and when no image at all could be read.
    /// </summary>
    public static Summary Run(IResNetEngine engine, IReadOnlyList<string> files, int batchSize, OnErrorPolicy policy,
        TextWriter error, string verb, Action<string, EngineOutput, int> onImage, CancellationToken cancel, long? maxPixels = null)
    {
        var preprocessing = engine.Card.Preprocessing;
        int length = preprocessing.ResizedLength;
        using var loader = new ImageLoader(preprocessing.Resize) { MaxPixels = maxPixels };
        var progress = new ProgressLine(error, verb, files.Count);
        int skipped = 0, done = 0;

        Batch Decode(int start)
        {
            var paths = new List<string>(batchSize);
            var input = new float[batchSize * length];
            for (int i = start; i < Math.Min(start + batchSize, files.Count); i++)
            {
                cancel.ThrowIfCancellationRequested();
                float[] resized;
                try
                {
                    resized = loader.Load(files[i]);
                }
                catch (ImageDecodeException e) when (policy == OnErrorPolicy.Skip)
                {
                    error.WriteLine($"skipped {e.Message}");
                    Interlocked.Increment(ref skipped);
                    continue;
                }
                resized.CopyTo(input.AsSpan(paths.Count * length));
                paths.Add(files[i]);
            }
            return new Batch(paths, input);
        }

        var next = Task.Run(() => Decode(0), cancel);
        try
        {
            for (int start = 0; start < files.Count; start += batchSize)
            {
                var batch = next.GetAwaiter().GetResult();
                if (start + batchSize < files.Count)
                {
                    int following = start + batchSize;
                    next = Task.Run(() => Decode(following), cancel);
                }
                if (batch.Paths.Count == 0) continue;
                var input = batch.Input.AsSpan(0, batch.Paths.Count * length);
                var output = engine.RunResized(input, batch.Paths.Count);
                for (int row = 0; row < batch.Paths.Count; row++)
                    onImage(batch.Paths[row], output, row);
                done += batch.Paths.Count;
                progress.Report(done);
            }
        }
        finally
        {
            // The loader is disposed on return: let a decode still running finish first.
            ((IAsyncResult)next).AsyncWaitHandle.WaitOne();
        }
        if (done == 0)
            throw new ImageDecodeException(files.Count == 1 ? files[0] : $"all {files.Count} images", "none could be read (see above); no output written.");
        progress.Finish(done, skipped);
        return new Summary(done, skipped);
    }
}
