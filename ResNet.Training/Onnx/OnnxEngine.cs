using ResNet.Training.Native;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ResNet.Training.Engines;
using ResNet.Training.Weights;

namespace ResNet.Training.Onnx;

/// <summary>
/// Runs an ONNX model written by <see cref="OnnxExporter"/> with ONNX Runtime, on the CPU or (with the
/// <c>Microsoft.ML.OnnxRuntime.Gpu</c> package) a CUDA GPU. The card comes back from the model's metadata. This is the
/// one place that creates ONNX Runtime sessions for the command line, the ML.NET transforms and the notebooks: it
/// chooses the execution provider (<see cref="DeviceChoice"/>, GPU id, CPU fallback), sets the session options, and
/// reports what it chose in <see cref="Device"/>, <see cref="FallbackReason"/> and <see cref="Description"/>.
/// <para>
/// <see cref="Run"/> takes normalised Crop² input like every <see cref="IResNetEngine"/>; <see cref="RunResized"/> takes
/// 0–255 Resize² planes and works for every model (cropped and normalised inside the graph when the model was exported
/// with preprocessing, in C# otherwise). <see cref="Run"/> refuses a model with preprocessing baked in, because
/// normalised pixels cannot be turned back into the 0–255 planes exactly.
/// </para>
/// <para>
/// Runs may come from several threads at once (ONNX Runtime sessions are thread-safe). <see cref="Dispose"/> may race
/// with them: the session is released when the last run in flight ends, and a run that starts after
/// <see cref="Dispose"/> throws <see cref="ObjectDisposedException"/>, never touching freed native memory.
/// </para>
/// </summary>
public sealed class OnnxEngine : IResNetEngine
{
    private const string CudaProvider = "CUDAExecutionProvider";
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string source;
    private static readonly string[] OutputNames = [OnnxNames.Features, OnnxNames.Logits];
    // Holders of the session: 1 for the owner until Dispose, plus one per run in flight; the last to let go releases it.
    private int holders = 1;
    private int disposed;

    private OnnxEngine(InferenceSession session, OnnxModelInfo info, string source, string device, string? fallbackReason)
    {
        this.session = session;
        this.source = source;
        Info = info;
        Device = device;
        FallbackReason = fallbackReason;
        Description = $"{info.Card.Architecture.Describe()}, ONNX Runtime {OrtEnv.Instance().GetVersionString()} on {device}{(fallbackReason is null ? "" : " (CUDA unavailable, fell back)")}";
    }

    /// <summary>
    /// Opens <paramref name="path"/>. <see cref="DeviceChoice.Cuda"/> uses GPU <paramref name="gpuId"/> and fails with a
    /// clear message when ONNX Runtime cannot use it, unless <paramref name="fallbackToCpu"/> allows the CPU instead;
    /// <see cref="DeviceChoice.Auto"/> takes the GPU when it works and the CPU otherwise. <paramref name="adjustCard"/> may
    /// change the card read from the metadata (class names; preprocessing outside the graph, see <see cref="OnnxModelInfo.WithCard"/>).
    /// </summary>
    public static OnnxEngine Open(string path, DeviceChoice device = DeviceChoice.Auto, int gpuId = 0, bool fallbackToCpu = false,
        Func<ModelCard, ModelCard>? adjustCard = null) =>
        FromBytes(OnnxModelInfo.ReadBytes(path), path, device, gpuId, fallbackToCpu, adjustCard);

    /// <summary>
    /// Opens a model held in memory (e.g. one exported in this process); <paramref name="source"/> names it in messages.
    /// The other parameters are those of <see cref="Open"/>.
    /// </summary>
    public static OnnxEngine FromBytes(byte[] model, string source, DeviceChoice device = DeviceChoice.Auto, int gpuId = 0,
        bool fallbackToCpu = false, Func<ModelCard, ModelCard>? adjustCard = null)
    {
        if (gpuId < 0) throw new ArgumentException($"GPU id must be 0 or more, not {gpuId}.");
        NativeBackends.EnsureOnnxRuntime();
        var (info, _) = OnnxModelInfo.Parse(model, source);
        if (adjustCard is not null)
            info = info.WithCard(adjustCard(info.Card), source);
        string? why = null;
        if (device != DeviceChoice.Cpu)
        {
            if (!OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider))
                why = "the app references ONNX Runtime's CPU package; reference Microsoft.ML.OnnxRuntime.Gpu instead";
            else
            {
                try
                {
                    using var options = CreateOptions();
                    options.AppendExecutionProvider_CUDA(gpuId);
                    return new OnnxEngine(new InferenceSession(model, options), info, source, $"cuda:{gpuId}", null);
                }
                catch (OnnxRuntimeException e)
                {
                    // The GPU package is there but CUDA/cuDNN, the driver or the GPU itself is not (the model itself parsed and checked above).
                    why = $"ONNX Runtime could not start CUDA on GPU {gpuId}: {e.Message}";
                }
            }
            if (device == DeviceChoice.Cuda && !fallbackToCpu)
                throw new InvalidOperationException($"CUDA was requested for {source} but is unavailable ({why}). Choose the CPU or Auto device, or allow the CPU fallback.");
        }
        using var cpuOptions = CreateOptions();
        // An explicit CUDA request that fell back says so (FallbackReason, Description), so logs show where the run really happened.
        return new OnnxEngine(CreateSession(model, cpuOptions, source), info, source, "cpu", device == DeviceChoice.Cuda ? why : null);
    }

    /// <summary>
    /// The session options of every engine: all graph optimisations, operators run one after another, and one
    /// intra-op thread per processor this process may use (<see cref="Environment.ProcessorCount"/>, which honours
    /// affinity and container limits), because each call carries a whole batch. Set explicitly because ONNX Runtime's
    /// own default (its count of physical cores) can come out too low: on a 2-core AMD EPYC VM whose /proc/cpuinfo
    /// lists 2 cores it ran ResNet18 on one thread, 46 img/s, against 83–96 img/s with 2 threads
    /// (<c>benchmarks/MLNetFeaturizer --mode network-raw --intra-op 2</c>).
    /// <para>
    /// The intra-op threads sleep when they run out of work instead of spinning: the images of the next batch are
    /// decoded and resized on the same cores meanwhile (ML.NET's upstream transforms, the command line's loaders), and
    /// spinning threads take their time. Measured on a 2-core AMD EPYC (Zen 5), interleaved runs: the int8 ML.NET
    /// featurizer 178–194 → 194–212 img/s, fp32 75 → 79, <c>resnet featurize --precision int8</c> 124 → 146 img/s,
    /// a <c>PredictionEngine</c> call 14.0 → 13.3 ms; the network alone on ready batches unchanged (int8 273–306 vs 298–317).
    /// </para>
    /// </summary>
    internal static SessionOptions CreateOptions()
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Environment.ProcessorCount,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }

    private static InferenceSession CreateSession(byte[] bytes, SessionOptions options, string path)
    {
        try
        {
            return new InferenceSession(bytes, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"{path}: ONNX Runtime cannot load the model ({e.Message}).", e);
        }
    }

    /// <summary>Where the model runs: <c>cpu</c> or <c>cuda:N</c>.</summary>
    public string Device { get; }

    /// <summary>Why CUDA was not used although it was asked for explicitly and the CPU fallback was allowed; null otherwise.</summary>
    public string? FallbackReason { get; }

    /// <summary>What the model file holds (card, baked-in preprocessing, opset).</summary>
    public OnnxModelInfo Info { get; }

    /// <inheritdoc/>
    public ModelCard Card => Info.Card;

    /// <summary>True when the model crops and normalises inside its graph: its input is 0–255 Resize² planes rather than normalised Crop² input.</summary>
    public bool WithPreprocessing => Info.WithPreprocessing;

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public EngineOutput Run(ReadOnlySpan<float> input, int batchSize)
    {
        if (Info.WithPreprocessing)
            throw new InvalidOperationException(
                $"{source} has preprocessing baked in: it takes 0–255 RGB planes of {Info.InputSide}×{Info.InputSide} (RunResized), not normalised {Card.Preprocessing.Crop}×{Card.Preprocessing.Crop} input. Export it without preprocessing (WithPreprocessing = false) for this use.");
        return Forward(input, batchSize);
    }

    /// <inheritdoc/>
    public EngineOutput RunResized(ReadOnlySpan<float> pixels, int batchSize) =>
        Info.WithPreprocessing ? Forward(pixels, batchSize) : Forward(Card.Preprocessing.CropAndNormaliseBatch(pixels, batchSize), batchSize);

    private EngineOutput Forward(ReadOnlySpan<float> input, int batchSize)
    {
        int side = Info.InputSide;
        long expected = (long)batchSize * Info.InputLength;
        if (batchSize < 1 || input.Length != expected)
            throw new ArgumentException($"Expected {batchSize}×3×{side}×{side} = {expected} floats, got {input.Length}.");
        Hold();
        try
        {
            // ONNX Runtime reads the caller's memory in place, pinned for the run. A copy into a new array (a batch of
            // 32 at 256² is 25 MB, in .NET's large object heap) cost more page faults per batch than all the images'
            // decoding, as every such array lands on memory the kernel must fault in and zero again.
            unsafe
            {
                fixed (float* data = input)
                {
                    using var tensor = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                        [batchSize, 3, side, side], (IntPtr)data, input.Length * sizeof(float));
                    using var outputs = session.Run(runOptions, [OnnxNames.Input], [tensor], OutputNames);
                    return new EngineOutput(
                        outputs[0].GetTensorDataAsSpan<float>().ToArray(),
                        outputs[1].GetTensorDataAsSpan<float>().ToArray(),
                        batchSize, Card.Architecture.FeatureDim, Card.Architecture.NumClasses);
                }
            }
        }
        finally
        {
            Release();
        }
    }

    /// <summary>Takes a hold on the session for one run; fails once the engine is disposed.</summary>
    private void Hold()
    {
        for (int n = Volatile.Read(ref holders); ; )
        {
            // A disposed session has freed the native buffers ONNX Runtime would read (names, run options): refuse instead.
            if (n == 0) throw new ObjectDisposedException(nameof(OnnxEngine), $"The ONNX Runtime engine of {source} was disposed.");
            int seen = Interlocked.CompareExchange(ref holders, n + 1, n);
            if (seen == n) return;
            n = seen;
        }
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref holders) > 0) return;
        session.Dispose();
        runOptions.Dispose();
    }

    /// <summary>Releases the session now, or when the last run in flight ends (see the class remarks).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0) Release();
    }
}
