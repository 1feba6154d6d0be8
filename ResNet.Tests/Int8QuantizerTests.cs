using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using ResNet.MLNet;
using Onnx;
using ResNet.Training.Imaging;
using ResNet.Training.Onnx;

namespace ResNet.Tests;

/// <summary>
/// The int8 QDQ pass: its features and predictions on real images stay close to the float32 model's, ONNX Runtime
/// really runs integer kernels, and bad calibration input is refused. Models: <see cref="OnnxExportFixture"/>'s
/// seeded networks with BatchNorm statistics from real images; calibration on other images than those compared.
/// </summary>
public sealed class Int8QuantizerTests(OnnxExportFixture f) : IClassFixture<OnnxExportFixture>, IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Theory]
    [InlineData(Int8WeightRange.Reduced)]
    [InlineData(Int8WeightRange.Full)]
    public void Int8_features_follow_float32_on_real_images(Int8WeightRange weights)
    {
        // Calibrated on Imagenette training images, compared on validation images. Top-1 agreement is not asserted
        // here: this seeded network's logits are near ties on every image (measured 91–94 % agreement even with a
        // nearest-centroid head), so it says nothing about quantization; that check needs trained weights.
        var prep = Preprocessing.ImageNet;
        var calibration = OnnxTestModels.Normalised(OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Imagenette, "train"), 32, 15), prep), prep);
        var floatModel = ModelProto.Parser.ParseFrom(File.ReadAllBytes(f.ImageNetOnnx));
        var int8 = Int8Quantizer.Quantize(floatModel, Batches(calibration, prep.InputLength, 8), weights);

        var (floatFeatures, _) = Run(floatModel, f.ImagenetteInput, 224);
        var (int8Features, _) = Run(int8, f.ImagenetteInput, 224);
        int n = f.ImagenetteInput.Length / prep.InputLength;
        var cosines = Enumerable.Range(0, n).Select(i => Cosine(floatFeatures.AsSpan(i * 512, 512), int8Features.AsSpan(i * 512, 512))).ToList();
        Assert.True(cosines.Average() >= 0.99, $"mean cosine similarity of int8 to float32 features {cosines.Average():F4} < 0.99");
        Assert.True(cosines.Min() >= 0.98, $"worst image's cosine similarity {cosines.Min():F4} < 0.98");
    }

    [Fact]
    public void The_MLNet_featurizer_with_Precision_Int8_calibrates_on_the_fit_data_and_follows_float32()
    {
        var ml = new MLContext(seed: 1);
        var weights = ResNet18Weights.FromModel(f.ImageNetModel, f.ImageNetCard);
        var fit = MLNetFixture.Data(ml, OnnxTestModels.Images(Path.Combine(TestPaths.Imagenette, "train"), 16, 31));
        var score = MLNetFixture.Data(ml, OnnxTestModels.Images(Path.Combine(TestPaths.Imagenette, "val"), 16, 29));
        ITransformer Fit(Precision precision) =>
            ml.Transforms.LoadImages("Image", null, "ImagePath")
                .Append(ml.Transforms.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options
                {
                    OutputColumnName = "Features", InputColumnName = "Image", Weights = weights, BatchSize = 8, Precision = precision,
                }))
                .Fit(fit);
        float[][] Features(ITransformer model) => model.Transform(score).GetColumn<float[]>("Features").ToArray();
        var float32 = Features(Fit(Precision.Float32));
        var int8Model = Fit(Precision.Int8);
        var int8 = Features(int8Model);
        Assert.Equal(16, int8.Length);
        double cosine = float32.Zip(int8).Average(p => Cosine(p.First, p.Second));
        Assert.True(cosine >= 0.99, $"mean cosine similarity {cosine:F4} < 0.99");
        Assert.NotEqual(float32[0], int8[0]); // really the int8 network, not the float one
        // The saved stock OnnxTransformer chain holds the int8 model: reloaded, it gives the int8 features, not float32's.
        using var saved = new MemoryStream();
        ml.Model.Save(int8Model, fit.Schema, saved);
        saved.Position = 0;
        var reloaded = Features(ml.Model.Load(saved, out _));
        for (int i = 0; i < int8.Length; i++)
        {
            float scale = int8[i].Max(Math.Abs);
            Assert.All(int8[i].Zip(reloaded[i]), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 1e-4f * scale + 1e-6f));
        }
    }

    [Fact]
    public void The_quantized_graph_is_qdq_with_int8_weights_and_folded_relus()
    {
        var floatModel = ModelProto.Parser.ParseFrom(File.ReadAllBytes(f.SmallOnnx));
        var int8 = Int8Quantizer.Quantize(floatModel, Batches(f.CifarInput, 3 * 32 * 32, 16), Int8WeightRange.Reduced);
        var g = int8.Graph;
        Assert.True(Int8Quantizer.IsInt8(int8));
        Assert.False(Int8Quantizer.IsInt8(floatModel));
        Assert.DoesNotContain(g.Node, n => n.OpType == "Relu");
        int convs = g.Node.Count(n => n.OpType == "Conv");
        Assert.Equal(floatModel.Graph.Node.Count(n => n.OpType == "Conv"), convs);
        var weights = g.Initializer.Where(t => t.Name.EndsWith(".weight_quantized", StringComparison.Ordinal)).ToList();
        Assert.Equal(convs, weights.Count);
        Assert.All(weights, w => Assert.Equal((int)TensorProto.Types.DataType.Int8, w.DataType));
        // Reduced range: every int8 weight within ±64, and some reach it (per-channel scales use the whole range).
        var all = weights.SelectMany(w => w.RawData.ToByteArray().Select(b => (int)(sbyte)b)).ToList();
        Assert.InRange(all.Min(), -64, 0);
        Assert.InRange(all.Max(), 0, 64);
        Assert.True(all.Min() == -64 || all.Max() == 64);
        // ONNX Runtime fuses the QDQ groups into integer kernels: its optimised graph holds QLinearConv, no float Conv.
        string optimised = Path.Combine(scratch.New(), "optimised.onnx");
        using (var options = new SessionOptions { OptimizedModelFilePath = optimised })
        using (new InferenceSession(int8.ToByteArray(), options)) { }
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimised)).Graph.Node.Select(n => n.OpType).ToList();
        Assert.Equal(convs, ops.Count(o => o == "QLinearConv"));
        Assert.DoesNotContain("Conv", ops);
    }

    [Fact]
    public void Activation_ranges_keep_the_percentile_of_the_values_and_clip_only_the_rarest_outliers()
    {
        // 1,000,000 values spread over bins 0–99 of [0, 4096), and 5 outliers at the top: 99.999 % allows 10 to go.
        var histogram = new long[4096];
        for (int b = 0; b < 100; b++) histogram[b] = 10_000;
        histogram[4095] = 5;
        Assert.Equal((0f, 100f), Int8Quantizer.PercentileRange(histogram, (0f, 4096f)));
        // 20 outliers are more than the share clipped: the range keeps them.
        histogram[4095] = 20;
        Assert.Equal((0f, 4096f), Int8Quantizer.PercentileRange(histogram, (0f, 4096f)));
        // With negative values half the share comes off each end (up to 5 each way): the values in [−48, 52) and 4
        // outliers at each end of [−2048, 2048).
        Array.Clear(histogram);
        for (int b = 2000; b < 2100; b++) histogram[b] = 10_000;
        histogram[0] = histogram[4095] = 4;
        Assert.Equal((-48f, 52f), Int8Quantizer.PercentileRange(histogram, (-2048f, 2048f)));
        // Nothing counted (a constant output): the min/max stays.
        Assert.Equal((1f, 1f), Int8Quantizer.PercentileRange(new long[4096], (1f, 1f)));
    }

    [Fact]
    public void Calibration_input_must_be_real_batches_of_the_model_input()
    {
        var floatModel = ModelProto.Parser.ParseFrom(File.ReadAllBytes(f.SmallOnnx));
        var none = Assert.Throws<ArgumentException>(() => Int8Quantizer.Quantize(floatModel, []));
        Assert.Contains("calibration images", none.Message);
        var wrong = Assert.Throws<ArgumentException>(() => Int8Quantizer.Quantize(floatModel, [new float[100]]));
        Assert.Contains("3×32×32", wrong.Message);
        var twice = Int8Quantizer.Quantize(floatModel, Batches(f.CifarInput, 3 * 32 * 32, 16));
        Assert.Throws<ArgumentException>(() => Int8Quantizer.Quantize(twice, Batches(f.CifarInput, 3 * 32 * 32, 16)));
    }

    private static IEnumerable<float[]> Batches(float[] data, int perImage, int batch) =>
        data.Chunk(perImage * batch);

    private static (float[] Features, float[] Logits) Run(ModelProto model, float[] input, int side)
    {
        using var options = new SessionOptions();
        using var runOptions = new RunOptions();
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [input.Length / (3 * side * side), 3, side, side]);
        using var outputs = session.Run(runOptions, [OnnxNames.Input], [tensor], [OnnxNames.Features, OnnxNames.Logits]);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb);
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
