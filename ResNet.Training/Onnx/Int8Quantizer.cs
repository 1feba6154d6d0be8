using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace ResNet.Training.Onnx;

/// <summary>
/// Turns a float32 model written by <see cref="OnnxExporter"/> into an int8 QDQ model (ONNX Runtime's quantization
/// tool is Python-only, so this is our own pass over the graph): static quantization, int8 weights per output channel
/// (symmetric), uint8 activations per tensor (asymmetric, calibrated by running the float model on real images: the
/// range of <see cref="ActivationPercentile"/> of each tensor's values), int32 biases. ONNX Runtime fuses each
/// DequantizeLinear → Conv/Add → QuantizeLinear group into QLinearConv/QLinearAdd.
/// A Relu after a Conv or Add is folded into its output's QuantizeLinear (zero point 0 clips negatives); MaxPool keeps
/// its input's parameters (ONNX Runtime then runs it on the integers). The pooling head and the classifier stay float,
/// as do the inputs and outputs, so the model is a drop-in for the float one. See docs/onnx.md.
/// </summary>
public static class Int8Quantizer
{
    /// <summary>Metadata key: <c>int8</c> in a quantized model (absent in a float one).</summary>
    public const string PrecisionKey = "precision";
    /// <summary>Metadata key: the weight range (<see cref="Int8WeightRange"/>) and the calibration set's size.</summary>
    public const string SchemeKey = "int8_scheme";

    private const string Dq = "_dq", Q = "_q";

    /// <summary>
    /// Quantizes <paramref name="floatModel"/> with activation ranges measured on <paramref name="calibration"/>:
    /// batches laid out as the model's input (N×3×side×side floats each). <paramref name="weights"/> picks the weight range;
    /// <see cref="Int8WeightRange.Auto"/> suits the CPU this runs on (<see cref="Int8Schemes.ForThisCpu"/>).
    /// </summary>
    public static ModelProto Quantize(ModelProto floatModel, IEnumerable<float[]> calibration, Int8WeightRange weights = Int8WeightRange.Auto)
    {
        weights = Int8Schemes.Resolve(weights);
        var model = floatModel.Clone();
        var graph = model.Graph;
        if (graph.Node.Any(n => n.OpType is "QuantizeLinear" or "DequantizeLinear"))
            throw new ArgumentException("The model is already quantized: quantize the float32 export.");
        var (ranges, images) = Calibrate(floatModel, calibration);

        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        FoldRelus(graph);
        var producers = graph.Node.ToDictionary(n => n.Output[0]);
        // Activations to quantize: what Conv/Add/MaxPool read and what they write (one Q/DQ pair per tensor, shared by its readers).
        var quantized = new List<string>();
        foreach (var node in graph.Node)
        {
            var activations = node.OpType switch
            {
                "Conv" or "MaxPool" => [node.Input[0], node.Output[0]],
                "Add" => [node.Input[0], node.Input[1], node.Output[0]],
                _ => Array.Empty<string>(),
            };
            quantized.AddRange(activations.Where(a => !quantized.Contains(a)));
        }
        var parameters = new Dictionary<string, (float Scale, byte ZeroPoint)>();
        foreach (var tensor in quantized)
            parameters[tensor] = producers.TryGetValue(tensor, out var p) && p.OpType == "MaxPool"
                ? parameters[p.Input[0]]
                : ActivationParameters(ranges[tensor]);

        var nodes = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType == "Conv")
                nodes.AddRange(QuantizeConvParameters(graph, node, initializers, parameters[node.Input[0]].Scale, weights));
            for (int i = 0; i < node.Input.Count; i++)
                if (parameters.ContainsKey(node.Input[i]))
                    node.Input[i] += Dq;
            nodes.Add(node);
            if (parameters.TryGetValue(node.Output[0], out var qp))
                nodes.AddRange(QdqPair(graph, node.Output[0], qp));
        }
        if (parameters.TryGetValue(OnnxNames.Input, out var inputParameters))
            nodes.InsertRange(0, QdqPair(graph, OnnxNames.Input, inputParameters));
        graph.Node.Clear();
        graph.Node.AddRange(nodes);

        model.DocString += $" Int8 QDQ: {DescribeScheme(weights, images)}.";
        model.MetadataProps.Add(new StringStringEntryProto { Key = PrecisionKey, Value = "int8" });
        model.MetadataProps.Add(new StringStringEntryProto { Key = SchemeKey, Value = $"weights={weights}; calibration_images={images}; activations=percentile {PercentileText}" });
        return model;
    }

    /// <summary>Human words for the whole scheme: the weight range and how the activations were calibrated.</summary>
    public static string DescribeScheme(Int8WeightRange weights, int calibrationImages) =>
        $"{Describe(weights)} weights per channel, uint8 activations per tensor (the range of {PercentileText} % of their values over {calibrationImages} calibration images)";

    /// <summary>Human words for a weight range.</summary>
    public static string Describe(Int8WeightRange weights) => weights switch
    {
        Int8WeightRange.Reduced => "7-bit (−64..64, reduce_range, for x86 CPUs without VNNI)",
        Int8WeightRange.Full => "8-bit (−127..127, for CPUs with VNNI or without int16 saturation)",
        _ => Describe(Int8Schemes.Resolve(weights)),
    };

    /// <summary>
    /// The share of each activation's calibration values its uint8 range covers; the rarest outliers beyond it are
    /// clipped, which buys finer steps for all the other values. 99.999 % is ONNX Runtime's default for its percentile
    /// calibration. Chosen on training images: with mlnet-imagenet on cifar10-small the int8 features' mean cosine to
    /// float32 rose from 0.9929 (min/max) to 0.9948 (99.99 %: 0.9941), and a float32-trained linear probe then predicts
    /// the same class from int8 features for 98.1 % of the test images instead of 96.8 %
    /// (benchmarks/transfer/RESULTS.md).
    /// </summary>
    public const double ActivationPercentile = 99.999;

    private static readonly string PercentileText = ActivationPercentile.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Histogram bins per activation over its min–max range (the percentile's resolution).</summary>
    private const int Bins = 4096;

    /// <summary>
    /// The range of every node output and of the input over the calibration batches, from one ONNX Runtime session of
    /// the float model: the input's min/max (pixels), each node output's <see cref="ActivationPercentile"/> range
    /// (a second pass fills histograms over the first pass's min/max).
    /// </summary>
    private static (Dictionary<string, (float Min, float Max)> Ranges, int Images) Calibrate(ModelProto floatModel, IEnumerable<float[]> calibration)
    {
        var probe = floatModel.Clone();
        var outputs = probe.Graph.Output.Select(o => o.Name).ToHashSet();
        foreach (var node in probe.Graph.Node)
            if (outputs.Add(node.Output[0]))
                probe.Graph.Output.Add(new ValueInfoProto
                {
                    Name = node.Output[0],
                    Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
                });
        var dims = probe.Graph.Input.Single(i => i.Name == OnnxNames.Input).Type.TensorType.Shape.Dim;
        long side = dims[2].DimValue, perImage = 3 * side * side;
        var ranges = new Dictionary<string, (float Min, float Max)>();
        using var options = OnnxEngine.CreateOptions();
        using var runOptions = new RunOptions();
        using var session = new InferenceSession(probe.ToByteArray(), options);
        var names = session.OutputMetadata.Keys.ToArray();
        // Kept for the second pass, so that a calibration sequence is read (and its images decoded) once.
        var batches = new List<float[]>();
        foreach (var batch in calibration)
        {
            if (batch.Length == 0 || batch.Length % perImage != 0)
                throw new ArgumentException($"A calibration batch holds {batch.Length} floats: expected a multiple of 3×{side}×{side} = {perImage}.");
            batches.Add(batch);
            Extend(ranges, OnnxNames.Input, batch);
            Run(batch, (name, values) => Extend(ranges, name, values));
        }
        int images = (int)(batches.Sum(b => (long)b.Length) / perImage);
        if (images == 0)
            throw new ArgumentException("No calibration images: int8 quantization needs real images to measure activation ranges (e.g. 64–256 from the data the model will see).");

        var histograms = names.ToDictionary(n => n, _ => new long[Bins]);
        foreach (var batch in batches)
            Run(batch, (name, values) => Count(histograms[name], ranges[name], values));
        foreach (var name in names)
            ranges[name] = PercentileRange(histograms[name], ranges[name]);
        return (ranges, images);

        void Run(float[] batch, OutputAction onOutput)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(batch, [batch.Length / perImage, 3, side, side]);
            using var results = session.Run(runOptions, [OnnxNames.Input], [input], names);
            for (int i = 0; i < names.Length; i++)
                onOutput(names[i], results[i].GetTensorDataAsSpan<float>());
        }
    }

    /// <summary>A callback over one node output's values.</summary>
    private delegate void OutputAction(string name, ReadOnlySpan<float> values);

    private static void Extend(Dictionary<string, (float Min, float Max)> ranges, string name, ReadOnlySpan<float> values)
    {
        var (min, max) = ranges.TryGetValue(name, out var r) ? r : (float.PositiveInfinity, float.NegativeInfinity);
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        ranges[name] = (min, max);
    }

    private static void Count(long[] histogram, (float Min, float Max) range, ReadOnlySpan<float> values)
    {
        float width = (range.Max - range.Min) / Bins;
        if (!(width > 0)) return; // a constant output: its min/max is its range
        foreach (var v in values)
            histogram[Math.Clamp((int)((v - range.Min) / width), 0, Bins - 1)]++;
    }

    /// <summary>
    /// The narrowest range of whole bins that keeps <see cref="ActivationPercentile"/> of the values: the clipped share
    /// comes off the top, or half off each end for a tensor with negative values.
    /// </summary>
    internal static (float Min, float Max) PercentileRange(long[] histogram, (float Min, float Max) range)
    {
        long total = histogram.Sum();
        if (total == 0) return range;
        float width = (range.Max - range.Min) / histogram.Length;
        bool twoSided = range.Min < 0;
        long clip = (long)(total * (1 - ActivationPercentile / 100) / (twoSided ? 2 : 1));
        int hi = histogram.Length - 1, lo = 0;
        for (long dropped = 0; hi > 0 && dropped + histogram[hi] <= clip; hi--) dropped += histogram[hi];
        if (twoSided)
            for (long dropped = 0; lo < hi && dropped + histogram[lo] <= clip; lo++) dropped += histogram[lo];
        return (twoSided ? range.Min + lo * width : range.Min, Math.Min(range.Max, range.Min + (hi + 1) * width));
    }

    /// <summary>Removes each Relu that is the only reader of a Conv or Add output; the Conv/Add writes the Relu's output instead.</summary>
    private static void FoldRelus(GraphProto graph)
    {
        var readers = graph.Node.SelectMany(n => n.Input).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        var producers = graph.Node.ToDictionary(n => n.Output[0]);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet();
        foreach (var relu in graph.Node.Where(n => n.OpType == "Relu").ToList())
            if (producers.TryGetValue(relu.Input[0], out var p) && p.OpType is "Conv" or "Add"
                && readers[relu.Input[0]] == 1 && !graphOutputs.Contains(relu.Input[0]))
            {
                p.Output[0] = relu.Output[0];
                graph.Node.Remove(relu);
            }
    }

    /// <summary>uint8 scale and zero point covering [min, max] ∪ {0} (0 must be exact: padding and ReLU).</summary>
    private static (float, byte) ActivationParameters((float Min, float Max) range)
    {
        float min = Math.Min(range.Min, 0f), max = Math.Max(range.Max, 0f);
        float scale = (max - min) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale)) return (1f, 0);
        return (scale, (byte)Math.Clamp(MathF.Round(-min / scale), 0, 255));
    }

    /// <summary>QuantizeLinear then DequantizeLinear after <paramref name="tensor"/>; readers use <paramref name="tensor"/>_dq.</summary>
    private static NodeProto[] QdqPair(GraphProto graph, string tensor, (float Scale, byte ZeroPoint) p)
    {
        string scale = AddInitializer(graph, $"{tensor}_qscale", TensorProto.Types.DataType.Float, [], MemoryMarshal.AsBytes(new[] { p.Scale }.AsSpan()));
        string zero = AddInitializer(graph, $"{tensor}_qzero", TensorProto.Types.DataType.Uint8, [], [p.ZeroPoint]);
        return [Node("QuantizeLinear", tensor + Q, [tensor, scale, zero]), Node("DequantizeLinear", tensor + Dq, [tensor + Q, scale, zero])];
    }

    /// <summary>
    /// Replaces a Conv's float weight and bias by int8 weights (per output channel) and int32 biases (scale = input
    /// scale × weight scale) behind DequantizeLinear; returns the two DequantizeLinear nodes.
    /// </summary>
    private static NodeProto[] QuantizeConvParameters(GraphProto graph, NodeProto conv, Dictionary<string, TensorProto> initializers, float inputScale, Int8WeightRange range)
    {
        var w = initializers[conv.Input[1]];
        var b = initializers[conv.Input[2]];
        var weight = MemoryMarshal.Cast<byte, float>(w.RawData.Span);
        var bias = MemoryMarshal.Cast<byte, float>(b.RawData.Span);
        int channels = (int)w.Dims[0], perChannel = weight.Length / channels;
        float qmax = range == Int8WeightRange.Reduced ? 64 : 127;
        var q = new sbyte[weight.Length];
        var scales = new float[channels];
        var biasScales = new float[channels];
        var qBias = new int[channels];
        for (int c = 0; c < channels; c++)
        {
            var row = weight.Slice(c * perChannel, perChannel);
            float absMax = 0;
            foreach (var v in row) absMax = Math.Max(absMax, Math.Abs(v));
            float s = absMax > 0 ? absMax / qmax : 1f;
            scales[c] = s;
            for (int i = 0; i < perChannel; i++)
                q[c * perChannel + i] = (sbyte)Math.Clamp(MathF.Round(row[i] / s), -qmax, qmax);
            biasScales[c] = inputScale * s;
            qBias[c] = (int)Math.Clamp(Math.Round(bias[c] / (double)biasScales[c]), int.MinValue, int.MaxValue);
        }
        graph.Initializer.Remove(w);
        graph.Initializer.Remove(b);
        var dqWeight = Dequantized(graph, w.Name, TensorProto.Types.DataType.Int8, [.. w.Dims], MemoryMarshal.AsBytes(q.AsSpan()), scales, 1);
        var dqBias = Dequantized(graph, b.Name, TensorProto.Types.DataType.Int32, [channels], MemoryMarshal.AsBytes(qBias.AsSpan()), biasScales, 4);
        conv.Input[1] = dqWeight.Output[0];
        conv.Input[2] = dqBias.Output[0];
        return [dqWeight, dqBias];
    }

    /// <summary>An integer initializer (zero points of 0 in the same type, per-channel scales on axis 0) and the DequantizeLinear that reads it.</summary>
    private static NodeProto Dequantized(GraphProto graph, string name, TensorProto.Types.DataType type, long[] dims, ReadOnlySpan<byte> data,
        float[] scales, int bytesPerValue)
    {
        string quantized = AddInitializer(graph, name + "_quantized", type, dims, data);
        string scale = AddInitializer(graph, name + "_qscale", TensorProto.Types.DataType.Float, [scales.Length], MemoryMarshal.AsBytes(scales.AsSpan()));
        string zero = AddInitializer(graph, name + "_qzero", type, [scales.Length], new byte[scales.Length * bytesPerValue]);
        var node = Node("DequantizeLinear", name + Dq, [quantized, scale, zero]);
        node.Attribute.Add(OnnxGraphBuilder.Int("axis", 0));
        return node;
    }

    private static string AddInitializer(GraphProto graph, string name, TensorProto.Types.DataType type, long[] dims, ReadOnlySpan<byte> data)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(data) };
        tensor.Dims.AddRange(dims);
        graph.Initializer.Add(tensor);
        return name;
    }

    private static NodeProto Node(string opType, string name, string[] inputs)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        return node;
    }

    /// <summary>True when the ONNX file at <paramref name="path"/> was written by <see cref="Quantize"/>.</summary>
    public static bool IsInt8(string path) => IsInt8(ModelProto.Parser.ParseFrom(OnnxModelInfo.ReadBytes(path)));

    /// <summary>True when the model's metadata marks it as written by <see cref="Quantize"/>.</summary>
    public static bool IsInt8(ModelProto model) =>
        model.MetadataProps.Any(p => p.Key == PrecisionKey && p.Value == "int8");
}
