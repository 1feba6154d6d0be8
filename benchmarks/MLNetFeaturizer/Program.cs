using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ResNet.MLNet;
using ResNet.Training.Engines;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

// Inference benchmarks for benchmarks/run.sh (each mode prints "RESULT <name> <value> <unit>" lines) and by hand:
//   MLNetFeaturizer IMAGE_DIR [--count N] [--batch-size B] [--weights W.pt] [--rounds R] [--mode MODE]
// Modes:
//   both (default)  JPEG → 512-d through our ML.NET pipeline and DnnFeaturizeImage ResNet18, one after the other
//   ours | dnn      one of the two pipelines (one per process, so peak RSS is its own); --precision int8 makes ours
//                   ResNet18Featurizer's int8 form (calibrated on the first 128 images while fitting, not timed)
//   latency         PredictionEngine<ImagePath, Features>.Predict of one image (batch 1), milliseconds per call
//   latency-reloaded  the same on the model saved with mlContext.Model.Save and loaded back (what an app runs);
//                   --session-threads T loads it with ONNX Runtime's intra-op threads set to T (0: its default);
//                   --concurrent K (both latency modes) calls Predict from K threads at once, each with its own
//                   PredictionEngine over the one transformer (as a server's engine pool does), and also reports img/s
//   network         ONNX Runtime on ready batches of --batch-size normalised 224² images (--onnx M, default our float export)
//   network-raw     any ONNX file with one N×3×224×224 float input (e.g. DnnFeaturizeImage's ResNet18.onnx) in a plain
//                   InferenceSession at --batch-size (a fixed batch dimension wins); --optimized-out F writes the graph
//                   ONNX Runtime runs after its optimisations, to compare which kernels each model reaches;
//                   --concurrent K runs K callers at once on the one session, --intra-op T sets its threads per call
//   profile         where the featurizer's time goes: decode, resize, pixel extraction, network, the rest (copies, batching)
//   gemm            ONNX Runtime's own GEMM peak on this CPU: MatMul fp32 and MatMulInteger u8·s8→s32, 1024³, best of 5
// Without --weights a seeded random ImageNet-stem ResNet18 is used: speed does not depend on the weights' values.
var argsList = args.ToList();
string Option(string name, string fallback)
{
    int i = argsList.IndexOf(name);
    return i >= 0 && i + 1 < argsList.Count ? argsList[i + 1] : fallback;
}
if (args.Length == 0 || args[0].StartsWith("--"))
{
    Console.Error.WriteLine("usage: MLNetFeaturizer IMAGE_DIR [--count N] [--batch-size B] [--weights W.pt] [--rounds R] [--precision float32|int8] [--mode both|ours|dnn|latency|latency-reloaded|network|network-raw|profile|gemm] [--onnx M] [--optimized-out F] [--session-threads T] [--concurrent K]");
    return 2;
}
int count = int.Parse(Option("--count", "1000")), batchSize = int.Parse(Option("--batch-size", "32")), rounds = int.Parse(Option("--rounds", "2"));
string mode = Option("--mode", "both");
var files = Directory.GetFiles(args[0], "*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).Take(count).ToArray();

string weightsPath = Option("--weights", "");
if (weightsPath == "")
{
    weightsPath = Path.Combine(Path.GetTempPath(), "resnet18-benchmark-random.pt");
    TorchSharp.torch.manual_seed(1);
    using var model = ResNetModel.ResNet18(1000);
    WeightsFile.Save(model, new ModelCard { Architecture = model.Config }, weightsPath);
}

Console.WriteLine($"{files.Length} images from {args[0]}; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()}");
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(files.Select(f => new Row { ImagePath = f }).ToList());
var weights = ResNet18Weights.FromFile(weightsPath);

var precision = Enum.Parse<Precision>(Option("--precision", "Float32"), ignoreCase: true);
IEstimator<ITransformer> Ours() => ml.Transforms.LoadImages("Image", null, "ImagePath")
    .Append(ml.Transforms.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options
    {
        OutputColumnName = "Features", InputColumnName = "Image", Weights = weights, BatchSize = batchSize, Precision = precision,
    }));
IEstimator<ITransformer> Dnn() => ml.Transforms.LoadImages("Image", null, "ImagePath")
    .Append(ml.Transforms.ResizeImages("Resized", 224, 224, "Image"))
    .Append(ml.Transforms.ExtractPixels("Pixels", "Resized"))
    .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"));

switch (mode)
{
    case "both":
        var ours = Ours().Fit(data);
        var dnn = Dnn().Fit(data);
        for (int round = 1; round <= rounds; round++)
        {
            Pass($"ResNet18Featurizer (batch {batchSize})", ours, "Features");
            Pass("DnnFeaturizeImage ResNet18", dnn, "Features");
        }
        break;
    case "ours" or "dnn":
        var pipeline = (mode == "ours" ? Ours() : Dnn()).Fit(data);
        for (int round = 1; round <= rounds; round++)
            Result(mode == "dnn" ? "featurizer_dnn" : precision == Precision.Int8 ? "featurizer_ours_int8" : "featurizer_ours",
                files.Length / Pass(mode, pipeline, "Features"), "img/s");
        break;
    case "latency" or "latency-reloaded":
        Latency(mode == "latency-reloaded");
        break;
    case "network":
        Network(Option("--onnx", ""));
        break;
    case "network-raw":
        NetworkRaw(Option("--onnx", ""), Option("--optimized-out", ""));
        break;
    case "profile":
        Profile();
        break;
    case "gemm":
        Gemm();
        break;
    default:
        Console.Error.WriteLine($"unknown --mode {mode}");
        return 2;
}
return 0;

// One full cursor pass over the column; returns seconds.
double Pass(string name, ITransformer model, string column)
{
    var output = model.Transform(data);
    var clock = Stopwatch.StartNew();
    int rows = 0;
    using (var cursor = output.GetRowCursor([output.Schema[column]]))
    {
        var getter = cursor.GetGetter<VBuffer<float>>(output.Schema[column]);
        VBuffer<float> values = default;
        while (cursor.MoveNext())
        {
            getter(ref values);
            rows++;
        }
    }
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"{name}: {rows} images in {seconds:F2} s = {rows / seconds:F1} img/s");
    return seconds;
}

// A pass that only decodes (and resizes / extracts) through stock ML.NET transforms; returns seconds.
double StagePass(string name, IEstimator<ITransformer> stages, string column)
{
    var model = stages.Fit(data);
    var output = model.Transform(data);
    var clock = Stopwatch.StartNew();
    int rows = 0;
    using (var cursor = output.GetRowCursor([output.Schema[column]]))
    {
        var type = output.Schema[column].Type;
        if (type.RawType == typeof(MLImage))
        {
            var getter = cursor.GetGetter<MLImage>(output.Schema[column]);
            MLImage image = null!;
            while (cursor.MoveNext()) { getter(ref image); rows++; }
        }
        else
        {
            var getter = cursor.GetGetter<VBuffer<float>>(output.Schema[column]);
            VBuffer<float> values = default;
            while (cursor.MoveNext()) { getter(ref values); rows++; }
        }
    }
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"{name}: {rows} images in {seconds:F2} s");
    return seconds;
}

void Latency(bool reloaded)
{
    int threads = int.Parse(Option("--session-threads", "0"));
    ITransformer model = Ours().Fit(data);
    if (reloaded)
    {
        // What a user's app runs: the saved model (stock ML.NET transformers only) loaded back.
        string zip = Path.Combine(Path.GetTempPath(), $"resnet18-benchmark-{Environment.ProcessId}.zip");
        ml.Model.Save(model, data.Schema, zip);
        // --session-threads T: the app's MLContext sets ONNX Runtime's threads (ML.NET's OnnxSessionOptions) before
        // loading, since the zip holds none; 0 leaves ONNX Runtime's default.
        var loader = new MLContext(seed: 1);
        if (threads > 0) loader.SetOnnxSessionOption(new OnnxSessionOptions { IntraOpNumThreads = threads });
        model = loader.Model.Load(zip, out _);
        File.Delete(zip);
    }
    int callers = int.Parse(Option("--concurrent", "1")), calls = Math.Max(rounds, 1) * 10;
    // PredictionEngine is not thread-safe: one per caller, all over the one transformer and its ONNX Runtime session.
    var engines = Enumerable.Range(0, callers).Select(_ => ml.Model.CreatePredictionEngine<Row, FeaturesRow>(model)).ToArray();
    foreach (var engine in engines) engine.Predict(new Row { ImagePath = files[0] }); // warm-up: session creation, first-call allocations
    var times = new List<double>[callers];
    var wall = Stopwatch.StartNew();
    var threadsCalling = Enumerable.Range(0, callers).Select(c => new Thread(() =>
    {
        times[c] = new List<double>();
        for (int i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            engines[c].Predict(new Row { ImagePath = files[(c * calls + i) % files.Length] });
            times[c].Add(clock.Elapsed.TotalMilliseconds);
        }
    })).ToList();
    threadsCalling.ForEach(t => t.Start());
    threadsCalling.ForEach(t => t.Join());
    double seconds = wall.Elapsed.TotalSeconds;
    foreach (var engine in engines) engine.Dispose();
    var all = times.SelectMany(t => t).Order().ToList();
    string name = !reloaded ? "latency_batch1" : threads > 0 ? "latency_batch1_reloaded_threads" : "latency_batch1_reloaded";
    if (callers == 1)
    {
        Result(name, all[all.Count / 2], "ms");
        return;
    }
    Result($"{name}_callers{callers}", all[all.Count / 2], "ms");
    Result($"{name}_callers{callers}_throughput", callers * calls / seconds, "img/s");
}

// The benchmark's weights exported as a float32 ONNX model (without preprocessing) to a temporary file.
string ExportedFloatModel()
{
    string onnx = Path.Combine(Path.GetTempPath(), "resnet18-benchmark-random.onnx");
    OnnxExporter.Export(weightsPath, onnx, new OnnxExportOptions());
    return onnx;
}

// Three batches before timing: the first calls of a process ran up to a third slower (int8 214 img/s against 330 from
// the second round on).
void WarmUp(OnnxEngine engine, float[] input)
{
    for (int b = 0; b < 3; b++) engine.Run(input, batchSize);
}

void Network(string onnx)
{
    if (onnx == "") onnx = ExportedFloatModel();
    using var engine = OnnxEngine.Open(onnx, DeviceChoice.Cpu);
    var input = RandomInput(batchSize * 3 * 224 * 224);
    WarmUp(engine, input);
    string name = Int8Quantizer.IsInt8(onnx) ? "network_int8" : "network_fp32";
    for (int round = 1; round <= rounds; round++)
    {
        var clock = Stopwatch.StartNew();
        int batches = Math.Max(1, 256 / batchSize);
        for (int b = 0; b < batches; b++) engine.Run(input, batchSize);
        Result($"{name}_batch{batchSize}", batches * batchSize / clock.Elapsed.TotalSeconds, "img/s");
    }
}

void NetworkRaw(string onnx, string optimizedOut)
{
    if (onnx == "") throw new ArgumentException("--mode network-raw needs --onnx MODEL.onnx");
    int concurrent = int.Parse(Option("--concurrent", "1")), intraOp = int.Parse(Option("--intra-op", "0"));
    using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL };
    if (intraOp > 0) options.IntraOpNumThreads = intraOp;
    if (optimizedOut != "") options.OptimizedModelFilePath = optimizedOut;
    using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(onnx, options);
    var (inputName, meta) = session.InputMetadata.Single();
    long[] shape = meta.Dimensions.Select((d, i) => i == 0 && d <= 0 ? batchSize : (long)d).ToArray();
    int batch = (int)shape[0];
    var input = RandomInput(shape.Aggregate(1L, (a, b) => a * b));
    using var value = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(input, shape);
    using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
    var outputs = session.OutputMetadata.Keys.Take(1).ToArray();
    using (session.Run(runOptions, [inputName], [value], outputs)) { } // warm-up
    Console.WriteLine($"{Path.GetFileName(onnx)}: input {inputName} [{string.Join(",", shape)}], output {outputs[0]}; {concurrent} caller(s), intra-op threads {(intraOp > 0 ? intraOp : "default")}");
    for (int round = 1; round <= rounds; round++)
    {
        var clock = Stopwatch.StartNew();
        int batches = Math.Max(1, 128 / batch / concurrent);
        Parallel.For(0, concurrent, new ParallelOptions { MaxDegreeOfParallelism = concurrent }, _ =>
        {
            for (int b = 0; b < batches; b++)
                using (session.Run(runOptions, [inputName], [value], outputs)) { }
        });
        Result($"network_raw_{Path.GetFileNameWithoutExtension(onnx)}_batch{batch}_callers{concurrent}_intra{intraOp}",
            concurrent * batches * batch / clock.Elapsed.TotalSeconds, "img/s");
    }
}

void Profile()
{
    // Each stage is timed as a pass over its own prefix of the pipeline; a stage's cost is the difference to the
    // prefix before it. The network is timed alone on ready batches. "The rest" is what the full pipeline spends
    // beyond all of these: copying rows into batches, the cursor machinery, waiting.
    var prep = weights.Card.Preprocessing;
    // Warm-up of the decoder and resizer (JIT, native libraries, file cache), so the first timed stage is not charged for it.
    StagePass("warm-up", ml.Transforms.LoadImages("Image", null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Resized", prep.Resize, prep.Resize, "Image", Microsoft.ML.Transforms.Image.ImageResizingEstimator.ResizingKind.IsoCrop))
        .Append(ml.Transforms.ExtractPixels("Pixels", "Resized", interleavePixelColors: false)), "Pixels");
    double decode = StagePass("decode (LoadImages)", ml.Transforms.LoadImages("Image", null, "ImagePath"), "Image");
    double resize = StagePass($"decode + resize {prep.Resize} (ResizeImages IsoCrop)", ml.Transforms.LoadImages("Image", null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Resized", prep.Resize, prep.Resize, "Image", Microsoft.ML.Transforms.Image.ImageResizingEstimator.ResizingKind.IsoCrop)), "Resized");
    // DnnFeaturizeImage's input resize (straight to 224²), for comparison: on images already 224² it costs nothing.
    double peerResize = StagePass("decode + resize 224 (the DnnFeaturizeImage pipeline's)", ml.Transforms.LoadImages("Image", null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Resized", 224, 224, "Image")), "Resized");
    double extract = StagePass("decode + resize + ExtractPixels", ml.Transforms.LoadImages("Image", null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Resized", prep.Resize, prep.Resize, "Image", Microsoft.ML.Transforms.Image.ImageResizingEstimator.ResizingKind.IsoCrop))
        .Append(ml.Transforms.ExtractPixels("Pixels", "Resized", interleavePixelColors: false)), "Pixels");
    double full = Pass("full pipeline", Ours().Fit(data), "Features");
    using var engine = OnnxEngine.Open(ExportedFloatModel(), DeviceChoice.Cpu);
    var input = new float[batchSize * prep.InputLength];
    WarmUp(engine, input);
    var clock = Stopwatch.StartNew();
    int batches = (files.Length + batchSize - 1) / batchSize;
    for (int b = 0; b < batches; b++) engine.Run(input, batchSize);
    double network = clock.Elapsed.TotalSeconds * files.Length / (batches * batchSize);
    double perImage = 1000.0 / files.Length;
    Result("profile_decode", decode * perImage, "ms/img");
    Result("profile_resize", (resize - decode) * perImage, "ms/img");
    Result("profile_peer_resize", (peerResize - decode) * perImage, "ms/img");
    Result("profile_extract_pixels", (extract - resize) * perImage, "ms/img");
    Result("profile_network", network * perImage, "ms/img");
    Result("profile_rest", (full - extract - network) * perImage, "ms/img");
    Result("profile_total", full * perImage, "ms/img");
}

void Gemm()
{
    const int n = 1024;
    var random = new Random(1);
    foreach (var (name, elem, unit) in new[] { ("gemm_fp32_ort", Onnx.TensorProto.Types.DataType.Float, "GFLOP/s"), ("gemm_int8_ort", Onnx.TensorProto.Types.DataType.Uint8, "GOP/s") })
    {
        bool integer = elem != Onnx.TensorProto.Types.DataType.Float;
        var graph = new Onnx.GraphProto { Name = name };
        var node = new Onnx.NodeProto { OpType = integer ? "MatMulInteger" : "MatMul", Name = "mm" };
        node.Input.AddRange(["a", "b"]);
        node.Output.Add("y");
        graph.Node.Add(node);
        graph.Input.Add(Value("a", elem));
        graph.Input.Add(Value("b", integer ? Onnx.TensorProto.Types.DataType.Int8 : elem));
        graph.Output.Add(Value("y", integer ? Onnx.TensorProto.Types.DataType.Int32 : elem));
        var proto = new Onnx.ModelProto { IrVersion = 8, Graph = graph };
        proto.OpsetImport.Add(new Onnx.OperatorSetIdProto { Domain = "", Version = 17 });
        // Both cores, as our engine uses them: ONNX Runtime's default thread count can come out as one (OnnxEngine.CreateOptions).
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = Environment.ProcessorCount };
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(proto), options);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var a = integer
            ? Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n * n).Select(_ => (byte)random.Next(256)).ToArray(), [n, n])
            : Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n * n).Select(_ => (float)random.NextDouble()).ToArray(), [n, n]);
        using var b = integer
            ? Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n * n).Select(_ => (sbyte)random.Next(-128, 128)).ToArray(), [n, n])
            : Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n * n).Select(_ => (float)random.NextDouble()).ToArray(), [n, n]);
        double best = double.MaxValue;
        for (int round = 0; round < 6; round++) // the first is a warm-up
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 5; i++)
                using (session.Run(runOptions, ["a", "b"], [a, b], ["y"])) { }
            if (round > 0) best = Math.Min(best, clock.Elapsed.TotalSeconds / 5);
        }
        Result(name, 2.0 * n * n * n / best / 1e9, unit);
    }

    static Onnx.ValueInfoProto Value(string name, Onnx.TensorProto.Types.DataType type)
    {
        var shape = new Onnx.TensorShapeProto();
        shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimValue = n });
        shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimValue = n });
        return new Onnx.ValueInfoProto { Name = name, Type = new Onnx.TypeProto { TensorType = new Onnx.TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}

// Seeded values in [-2, 2): what normalised images look like to the network, as far as its speed cares.
static float[] RandomInput(long length)
{
    var random = new Random(1);
    var input = new float[length];
    for (long i = 0; i < length; i++) input[i] = (float)(random.NextDouble() * 4 - 2);
    return input;
}

static void Result(string name, double value, string unit) =>
    Console.WriteLine(FormattableString.Invariant($"RESULT {name} {value:F3} {unit}"));

internal sealed class Row
{
    public string ImagePath { get; set; } = "";
}

internal sealed class FeaturesRow
{
    [VectorType(512)]
    public float[] Features { get; set; } = [];
}
