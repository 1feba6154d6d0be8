using Microsoft.ML.OnnxRuntime;
using ResNet.Training.Engines;
using ResNet.Training.Weights;

namespace ResNet.Training.Onnx;

/// <summary>
/// Runs an ONNX model written by <see cref="OnnxExporter"/> with ONNX Runtime, on the CPU or (with the
/// <c>Microsoft.ML.OnnxRuntime.Gpu</c> package) a CUDA GPU. The card comes back from the model's metadata.
/// <para>
/// <see cref="Run"/> takes normalised Crop² input like every <see cref="IResNetEngine"/>. A model exported with
/// preprocessing baked in takes 0–255 Resize² planes instead: feed those to <see cref="RunResized"/>; <see cref="Run"/>
/// refuses such a model, because normalised pixels cannot be turned back into the 0–255 planes exactly.
/// </para>
/// </summary>
public sealed class OnnxEngine : IResNetEngine
{
    private const string CudaProvider = "CUDAExecutionProvider";
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string source;
    private static readonly string[] OutputNames = [OnnxNames.Features, OnnxNames.Logits];

    private OnnxEngine(InferenceSession session, OnnxModelInfo info, string source, string device)
    {
        this.session = session;
        this.source = source;
        Info = info;
        Description = $"{info.Card.Architecture.Describe()}, ONNX Runtime {OrtEnv.Instance().GetVersionString()} on {device}";
    }

    /// <summary>
    /// Opens <paramref name="path"/>. <see cref="DeviceChoice.Cuda"/> uses GPU <paramref name="gpuId"/> and fails with a
    /// clear message when ONNX Runtime cannot use it, unless <paramref name="fallbackToCpu"/> allows the CPU instead;
    /// <see cref="DeviceChoice.Auto"/> takes the GPU when it works and the CPU otherwise. <paramref name="adjustCard"/> may
    /// change the card read from the metadata (class names; preprocessing outside the graph, see <see cref="OnnxModelInfo.WithCard"/>).
    /// </summary>
    public static OnnxEngine Open(string path, DeviceChoice device = DeviceChoice.Auto, int gpuId = 0, bool fallbackToCpu = false,
        Func<ModelCard, ModelCard>? adjustCard = null)
    {
        if (gpuId < 0) throw new ArgumentException($"GPU id must be 0 or more, not {gpuId}.");
        var bytes = OnnxModelInfo.ReadBytes(path);
        var (info, _) = OnnxModelInfo.Parse(bytes, path);
        if (adjustCard is not null)
            info = info.WithCard(adjustCard(info.Card), path);
        if (device != DeviceChoice.Cpu)
        {
            string? why = null;
            if (!OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider))
                why = "this build references ONNX Runtime's CPU package; build with -p:TorchBackend=cuda, which references Microsoft.ML.OnnxRuntime.Gpu";
            else
            {
                try
                {
                    using var options = new SessionOptions();
                    options.AppendExecutionProvider_CUDA(gpuId);
                    return new OnnxEngine(new InferenceSession(bytes, options), info, path, $"cuda:{gpuId}");
                }
                catch (OnnxRuntimeException e)
                {
                    // The GPU package is there but CUDA/cuDNN, the driver or the GPU itself is not (the model itself parsed and checked above).
                    why = $"ONNX Runtime could not start CUDA on GPU {gpuId}: {e.Message}";
                }
            }
            if (device == DeviceChoice.Cuda && !fallbackToCpu)
                throw new InvalidOperationException($"CUDA was requested for {path} but is unavailable ({why}). Choose --device cpu or auto, or allow the CPU fallback.");
        }
        using var cpuOptions = new SessionOptions();
        // An explicit CUDA request that fell back says so, so logs show where the run really happened.
        return new OnnxEngine(CreateSession(bytes, cpuOptions, path), info, path, device == DeviceChoice.Cuda ? "cpu (CUDA unavailable, fell back)" : "cpu");
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

    /// <summary>What the model file holds (card, baked-in preprocessing, opset).</summary>
    public OnnxModelInfo Info { get; }

    /// <inheritdoc/>
    public ModelCard Card => Info.Card;

    /// <summary>True when the model takes 0–255 Resize² planes (<see cref="RunResized"/>) rather than normalised Crop² input.</summary>
    public bool WithPreprocessing => Info.WithPreprocessing;

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public EngineOutput Run(ReadOnlySpan<float> input, int batchSize)
    {
        if (Info.WithPreprocessing)
            throw new InvalidOperationException(
                $"{source} has preprocessing baked in: it takes 0–255 RGB planes of {Info.InputSide}×{Info.InputSide} (RunResized), not normalised {Card.Preprocessing.Crop}×{Card.Preprocessing.Crop} input. Export without --with-preprocessing for this use.");
        return Forward(input, batchSize);
    }

    /// <summary>
    /// Runs <paramref name="batchSize"/> images given as 3×Resize×Resize planes of 0–255 RGB values (what
    /// <see cref="Imaging.ImageLoader"/> and ML.NET's ResizeImages + ExtractPixels give) through a model exported with preprocessing.
    /// </summary>
    public EngineOutput RunResized(ReadOnlySpan<float> pixels, int batchSize)
    {
        if (!Info.WithPreprocessing)
            throw new InvalidOperationException(
                $"{source} takes normalised {Card.Preprocessing.Crop}×{Card.Preprocessing.Crop} input (Run), not 0–255 planes: it was exported without --with-preprocessing.");
        return Forward(pixels, batchSize);
    }

    private EngineOutput Forward(ReadOnlySpan<float> input, int batchSize)
    {
        int side = Info.InputSide;
        long expected = (long)batchSize * Info.InputLength;
        if (batchSize < 1 || input.Length != expected)
            throw new ArgumentException($"Expected {batchSize}×3×{side}×{side} = {expected} floats, got {input.Length}.");
        using var tensor = OrtValue.CreateTensorValueFromMemory(input.ToArray(), [batchSize, 3, side, side]);
        using var outputs = session.Run(runOptions, [OnnxNames.Input], [tensor], OutputNames);
        return new EngineOutput(
            outputs[0].GetTensorDataAsSpan<float>().ToArray(),
            outputs[1].GetTensorDataAsSpan<float>().ToArray(),
            batchSize, Card.Architecture.FeatureDim, Card.Architecture.NumClasses);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }
}
