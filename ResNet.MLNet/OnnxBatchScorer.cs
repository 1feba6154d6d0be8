using Microsoft.ML.OnnxRuntime;

namespace ResNet.MLNet;

/// <summary>
/// Runs batches of rows through an ONNX model with ONNX Runtime: the in-process engine of the ResNet transforms. It
/// runs the very model that the saved ML.NET model carries (where <c>OnnxTransformer</c> scores it row by row), so
/// in-process and reloaded results agree to float rounding; batching is what makes it fast.
/// </summary>
internal sealed class OnnxBatchScorer : IDisposable
{
    private readonly InferenceSession session;
    private readonly string inputName;
    private readonly long[] rowShape;
    private readonly string[] outputNames;

    /// <summary>Loads <paramref name="model"/>; a GPU id selects ONNX Runtime's CUDA provider (with optional CPU fallback).</summary>
    public OnnxBatchScorer(byte[] model, string inputName, long[] rowShape, string[] outputNames, int? gpuDeviceId, bool fallbackToCpu)
    {
        this.inputName = inputName;
        this.rowShape = rowShape;
        this.outputNames = outputNames;
        RowLength = (int)rowShape.Aggregate(1L, (a, b) => a * b);
        session = new InferenceSession(model, CreateOptions(gpuDeviceId, fallbackToCpu));
    }

    /// <summary>Floats per input row.</summary>
    public int RowLength { get; }

    private static SessionOptions CreateOptions(int? gpuDeviceId, bool fallbackToCpu)
    {
        SessionOptions? options = null;
        if (gpuDeviceId is int gpu)
        {
            try
            {
                options = SessionOptions.MakeSessionOptionWithCudaProvider(gpu);
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                // MLContext.FallbackToCpu: go on with the CPU, as OnnxTransformer does.
                if (!fallbackToCpu)
                    throw new InvalidOperationException(
                        $"MLContext.GpuDeviceId is {gpu} but ONNX Runtime cannot use CUDA ({e.Message}). Reference Microsoft.ML.OnnxRuntime.Gpu " +
                        "instead of Microsoft.ML.OnnxRuntime, or set MLContext.FallbackToCpu = true.", e);
            }
        }
        options ??= new SessionOptions();
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
        // One batch at a time per cursor: let ONNX Runtime use every core inside each operator.
        options.IntraOpNumThreads = Environment.ProcessorCount;
        options.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
        return options;
    }

    /// <summary>Scores <paramref name="rows"/> rows of <see cref="RowLength"/> floats; returns one array per output, row-major.</summary>
    public float[][] Run(float[] input, int rows)
    {
        var shape = new long[rowShape.Length + 1];
        shape[0] = rows;
        rowShape.CopyTo(shape, 1);
        using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, rows * RowLength), shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [value], outputNames);
        return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    /// <inheritdoc/>
    public void Dispose() => session.Dispose();
}
