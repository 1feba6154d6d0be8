using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using ResNet.Training.Engines;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>The ONNX Runtime engine: bad files, foreign or tampered models, the input contract and the device choice.</summary>
public sealed class OnnxEngineTests : IDisposable
{
    private readonly ScratchFolders scratch = new();
    private readonly string dir;
    private readonly ResNetModel model = new(new ResNetConfig { NumClasses = 3, Stem = StemKind.Small, BlocksPerStage = [1, 1, 1, 1], Widths = [8, 8, 16, 16] });
    private readonly ModelCard card;
    private readonly string path;

    public OnnxEngineTests()
    {
        dir = scratch.New();
        model.eval();
        card = new ModelCard { Architecture = model.Config, ClassNames = ["a", "b", "c"], Preprocessing = new Preprocessing { Resize = 20, Crop = 16 } };
        path = Path.Combine(dir, "tiny.onnx");
        OnnxExporter.Export(model, card, path, new OnnxExportOptions());
    }

    public void Dispose()
    {
        model.Dispose();
        scratch.Dispose();
    }

    private string Write(string name, byte[] bytes)
    {
        string p = Path.Combine(dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    /// <summary>The tiny model with <paramref name="tamper"/> applied, written to a new file.</summary>
    private string Tampered(string name, Action<ModelProto> tamper)
    {
        var proto = OnnxExporter.Build(model, card, new OnnxExportOptions());
        tamper(proto);
        return Write(name, proto.ToByteArray());
    }

    private static string OpenFails<T>(string p) where T : Exception => Assert.Throws<T>(() => OnnxEngine.Open(p, DeviceChoice.Cpu).Dispose()).Message;

    [Fact]
    public void Missing_empty_non_onnx_and_truncated_files_are_named_with_what_was_expected()
    {
        Assert.Contains("not found", OpenFails<FileNotFoundException>(Path.Combine(dir, "absent.onnx")));
        Assert.Contains("empty", OpenFails<InvalidDataException>(Write("empty.onnx", [])));
        foreach (var (name, bytes) in new[]
                 {
                     ("text.onnx", "this is not a model\n"u8.ToArray()),
                     ("noise.onnx", Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray()),
                     ("truncated.onnx", File.ReadAllBytes(path)[..(int)(new FileInfo(path).Length / 2)]),
                 })
        {
            string p = Write(name, bytes);
            string message = OpenFails<InvalidDataException>(p);
            Assert.Contains(p, message);
            Assert.Contains("expected", message);
            Assert.Throws<InvalidDataException>(() => OnnxModelInfo.Read(p));
        }
    }

    [Fact]
    public void A_model_without_features_or_logits_is_refused_naming_the_output()
    {
        string noLogits = Tampered("no-logits.onnx", p => p.Graph.Output.Remove(p.Graph.Output.Single(o => o.Name == OnnxNames.Logits)));
        string message = OpenFails<InvalidDataException>(noLogits);
        Assert.Contains($"output '{OnnxNames.Logits}' of float [N,3]", message);
        Assert.Contains($"'{OnnxNames.Features}' float [N,16]", message);

        string renamed = Tampered("renamed.onnx", p => p.Graph.Output.Single(o => o.Name == OnnxNames.Features).Name = "embedding");
        Assert.Contains($"output '{OnnxNames.Features}' of float [N,16]", OpenFails<InvalidDataException>(renamed));
    }

    [Fact]
    public void A_model_of_another_input_shape_is_refused_naming_the_expected_input()
    {
        string rank3 = Tampered("rank3.onnx", p => p.Graph.Input[0].Type.TensorType.Shape.Dim.RemoveAt(3));
        string message = OpenFails<InvalidDataException>(rank3);
        Assert.Contains($"input '{OnnxNames.Input}' of float [N,3,16,16]", message);
        Assert.Contains("[N,3,16]", message);

        string size = Tampered("size.onnx", p => p.Graph.Input[0].Type.TensorType.Shape.Dim[2].DimValue = 32);
        Assert.Contains("[N,3,32,16]", OpenFails<InvalidDataException>(size));
    }

    [Fact]
    public void A_foreign_onnx_model_without_the_card_is_refused()
    {
        string foreign = Tampered("foreign.onnx", p => { p.MetadataProps.Clear(); p.ProducerName = "pytorch"; });
        string message = OpenFails<InvalidDataException>(foreign);
        Assert.Contains($"no '{OnnxNames.Metadata.ModelCard}' metadata", message);
        Assert.Contains("pytorch", message);
    }

    [Fact]
    public void Run_refuses_a_model_with_preprocessing_RunResized_takes_both_kinds_and_wrong_lengths_fail()
    {
        string baked = Path.Combine(dir, "baked.onnx");
        OnnxExporter.Export(model, card, baked, new OnnxExportOptions { WithPreprocessing = true });
        var pixels = Enumerable.Range(0, 2 * card.Preprocessing.ResizedLength).Select(i => (float)(i % 256)).ToArray();
        var normalised = new float[2 * card.Preprocessing.InputLength];
        for (int i = 0; i < 2; i++)
            card.Preprocessing.CropAndNormalise(pixels.AsSpan(i * card.Preprocessing.ResizedLength, card.Preprocessing.ResizedLength), normalised.AsSpan(i * card.Preprocessing.InputLength));

        using var plainEngine = OnnxEngine.Open(path, DeviceChoice.Cpu);
        using var bakedEngine = OnnxEngine.Open(baked, DeviceChoice.Cpu);
        Assert.Contains("RunResized", Assert.Throws<InvalidOperationException>(() => bakedEngine.Run(normalised, 2)).Message);
        Assert.Contains("2×3×16×16", Assert.Throws<ArgumentException>(() => plainEngine.Run(normalised.AsSpan(1), 2)).Message);
        Assert.Equal(plainEngine.Run(normalised, 2).Logits, bakedEngine.RunResized(pixels, 2).Logits);
        Assert.Equal(plainEngine.Run(normalised, 2).Logits, plainEngine.RunResized(pixels, 2).Logits);
        Assert.Contains("2×3×20×20", Assert.Throws<ArgumentException>(() => plainEngine.RunResized(pixels.AsSpan(1), 2)).Message);
        Assert.Equal(["a", "b", "c"], bakedEngine.Card.ClassNames);
    }

    [Fact]
    public void The_card_may_change_only_outside_the_graph()
    {
        string baked = Path.Combine(dir, "baked-card.onnx");
        OnnxExporter.Export(model, card, baked, new OnnxExportOptions { WithPreprocessing = true });
        using (var renamed = OnnxEngine.Open(path, DeviceChoice.Cpu, adjustCard: c => c with { ClassNames = ["x", "y", "z"], Preprocessing = c.Preprocessing with { Resize = 24, Mean = [0.5f, 0.5f, 0.5f] } }))
        {
            Assert.Equal(["x", "y", "z"], renamed.Card.ClassNames);
            Assert.Equal((24, 16), (renamed.Card.Preprocessing.Resize, renamed.Card.Preprocessing.Crop));
            Assert.Equal(3, renamed.Card.Architecture.NumClasses);
        }
        Assert.Contains("takes 16×16 input", Assert.Throws<ArgumentException>(() =>
            OnnxEngine.Open(path, DeviceChoice.Cpu, adjustCard: c => c with { Preprocessing = c.Preprocessing with { Crop = 12 } })).Message);
        Assert.Contains("baked in", Assert.Throws<ArgumentException>(() =>
            OnnxEngine.Open(baked, DeviceChoice.Cpu, adjustCard: c => c with { Preprocessing = c.Preprocessing with { Std = [0.5f, 0.5f, 0.5f] } })).Message);
        Assert.Contains("2 class names", Assert.Throws<ArgumentException>(() =>
            OnnxEngine.Open(baked, DeviceChoice.Cpu, adjustCard: c => c with { ClassNames = ["x", "y"] })).Message);
        using var sameNames = OnnxEngine.Open(baked, DeviceChoice.Cpu, adjustCard: c => c with { ClassNames = ["p", "q", "r"] });
        Assert.Equal("q", sameNames.Card.Labels[1]);
    }

    [CpuOnlyOnnxRuntimeFact]
    public void Cuda_without_a_usable_gpu_fails_clearly_unless_the_cpu_fallback_is_allowed()
    {
        var e = Assert.Throws<InvalidOperationException>(() => OnnxEngine.Open(path, DeviceChoice.Cuda));
        Assert.Contains("CUDA was requested", e.Message);
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", e.Message);
        using var fallback = OnnxEngine.Open(path, DeviceChoice.Cuda, gpuId: 0, fallbackToCpu: true);
        Assert.EndsWith("on cpu (CUDA unavailable, fell back)", fallback.Description);
        Assert.Equal("cpu", fallback.Device);
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", fallback.FallbackReason);
        using var auto = OnnxEngine.Open(path, DeviceChoice.Auto);
        Assert.EndsWith("on cpu", auto.Description);
        Assert.Null(auto.FallbackReason);
        Assert.Throws<ArgumentException>(() => OnnxEngine.Open(path, DeviceChoice.Cuda, gpuId: -1));
    }
}
