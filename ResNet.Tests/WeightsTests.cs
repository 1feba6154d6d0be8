using ResNet.Training.Imaging;
using Xunit.Abstractions;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Tests;

/// <summary>Weight exchange with PyTorch: strict loading, round trips, parity with torchvision, refusal of unsafe files.</summary>
public class WeightsTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Theory]
    [InlineData(1000, false)]
    [InlineData(10, false)]
    [InlineData(1000, true)] // the layout of torchvision's original ImageNet files: no BatchNorm batch counters
    public void Torchvision_state_dict_loads_strictly_and_gives_pytorchs_outputs(int numClasses, bool withoutBatchCounters)
    {
        string dir = scratch.New();
        PythonReference.Run("torch_parity.py", ["export", dir, numClasses.ToString(), "7", .. withoutBatchCounters ? ["--no-batch-counters"] : Array.Empty<string>()]);
        var (model, card) = WeightsFile.Load(Path.Combine(dir, "resnet18.pth"));
        using (model)
        {
            AssertSameArchitecture(ResNetConfig.ResNet18(numClasses), card.Architecture);
            Assert.Equal(card.Labels, ModelCard.NumberedClasses(numClasses));
            var (features, logits) = Forward(model, PythonReference.ReadFloats(Path.Combine(dir, "input.f32")));
            AssertClose(PythonReference.ReadFloats(Path.Combine(dir, "features.f32")), features, "features");
            AssertClose(PythonReference.ReadFloats(Path.Combine(dir, "logits.f32")), logits, "logits");
        }
    }

    [Theory]
    [InlineData("resnet34")]
    [InlineData("resnet50")]
    public void Deeper_torchvision_state_dicts_load_as_what_they_are_and_give_pytorchs_outputs(string arch)
    {
        string dir = scratch.New();
        PythonReference.Run("torch_parity.py", "export", dir, "10", "8", "--arch", arch);
        var (model, card) = WeightsFile.Load(Path.Combine(dir, arch + ".pth"));
        using (model)
        {
            AssertSameArchitecture(arch == "resnet34" ? ResNetConfig.ResNet34(10) : ResNetConfig.ResNet50(10), card.Architecture);
            Assert.StartsWith(arch == "resnet34" ? "ResNet-34 (basic" : "ResNet-50 (bottleneck", card.Architecture.Describe());
            var (features, logits) = Forward(model, PythonReference.ReadFloats(Path.Combine(dir, "input.f32")));
            AssertClose(PythonReference.ReadFloats(Path.Combine(dir, "features.f32")), features, "features");
            AssertClose(PythonReference.ReadFloats(Path.Combine(dir, "logits.f32")), logits, "logits");
        }
    }

    [Fact]
    public void Cards_written_before_the_family_load_and_new_fields_round_trip()
    {
        // A card as version 1 wrote it: no block or shortcut fields.
        const string old = """
            { "architecture": { "numClasses": 3, "stem": "small", "blocksPerStage": [2,2,2,2], "widths": [64,128,256,512],
              "padding": "symmetric", "zeroInitResidual": false, "featureDim": 512 },
              "classNames": ["a","b","c"], "preprocessing": { "resize": 36, "crop": 32, "mean": [0.5,0.5,0.5], "std": [0.25,0.25,0.25] } }
            """;
        var card = ModelCard.FromJson(old);
        AssertSameArchitecture(ResNetConfig.ResNet18(3, StemKind.Small), card.Architecture);
        var plain20 = ResNetConfig.ResNet20(3).AsPlain();
        var back = ModelCard.FromJson((card with { Architecture = plain20 }).ToJson());
        AssertSameArchitecture(plain20, back.Architecture);
        AssertSameArchitecture(ResNetConfig.ResNet50(3), ModelCard.FromJson((card with { Architecture = ResNetConfig.ResNet50(3) }).ToJson()).Architecture);
    }

    [Fact]
    public void A_state_dict_of_another_network_is_named_in_the_error()
    {
        string dir = scratch.New();
        PythonReference.Run("torch_parity.py", "export", dir, "10", "8", "--arch", "resnet50");
        string weights = Path.Combine(dir, "resnet50.pth");
        File.WriteAllText(ModelCard.PathFor(weights), new ModelCard { Architecture = ResNetConfig.ResNet18(10) }.ToJson());
        var e = Assert.Throws<WeightsMismatchException>(() => WeightsFile.Load(weights));
        Assert.Contains("is a ResNet-50 (bottleneck blocks [3,4,6,3], ImageNet stem, 10 classes) state dict, not a ResNet-18", e.Message);
        Assert.DoesNotContain("layer4.2.conv3.weight", e.Message); // not a list of a hundred keys
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(10)]
    public void Saved_weights_load_strictly_in_torchvision_and_give_our_outputs(int numClasses)
    {
        string dir = scratch.New();
        string weights = Path.Combine(dir, "ours.pt"), input = Path.Combine(dir, "input.f32");
        random.manual_seed(11);
        using var model = ResNetModel.ResNet18(numClasses);
        RandomiseNorms(model);
        WeightsFile.Save(model, new ModelCard(), weights);
        var x = randn(2, 3, 224, 224).data<float>().ToArray();
        PythonReference.WriteFloats(input, x);
        PythonReference.Run("torch_parity.py", "run", weights, input, numClasses.ToString(), dir);
        var (features, logits) = Forward(model, x);
        AssertClose(features, PythonReference.ReadFloats(Path.Combine(dir, "features.f32")), "features");
        AssertClose(logits, PythonReference.ReadFloats(Path.Combine(dir, "logits.f32")), "logits");
    }

    [Fact]
    public void Save_then_load_is_bit_exact_and_keeps_the_card()
    {
        string path = Path.Combine(scratch.New(), "model.pt");
        random.manual_seed(3);
        using var model = ResNetModel.ResNet18(10, StemKind.Small);
        RandomiseNorms(model);
        var card = new ModelCard
        {
            ClassNames = Enumerable.Range(0, 10).Select(i => $"class {i}, \"quoted\"").ToArray(),
            Preprocessing = new Preprocessing { Resize = 32, Crop = 32, Mean = [0.5f, 0.4f, 0.3f], Std = [0.2f, 0.25f, 0.3f] },
        };
        WeightsFile.Save(model, card, path);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
        var (loaded, loadedCard) = WeightsFile.Load(path);
        using (loaded)
        {
            var expected = model.state_dict();
            var actual = loaded.state_dict();
            Assert.Equal(expected.Keys, actual.Keys);
            foreach (var (key, tensor) in expected)
            {
                Assert.Equal(tensor.dtype, actual[key].dtype);
                Assert.True(tensor.bytes.SequenceEqual(actual[key].bytes), $"{key} differs after the round trip");
            }
            Assert.Equal(card.ClassNames, loadedCard.ClassNames);
            Assert.Equal(card.Preprocessing.Mean, loadedCard.Preprocessing.Mean);
            Assert.Equal(32, loadedCard.Preprocessing.Crop);
            AssertSameArchitecture(model.Config, loadedCard.Architecture);
            Assert.Equal(WeightsFile.Sha256(path), loadedCard.WeightsSha256);
        }
    }

    [Fact]
    public void Mismatched_keys_and_shapes_are_all_listed()
    {
        using var model = ResNetModel.ResNet18(10, StemKind.Small);
        using var target = ResNetModel.ResNet18(10, StemKind.Small);
        var state = new Dictionary<string, Tensor>(model.state_dict());
        state.Remove("layer3.1.bn2.running_var");
        state["layer5.0.conv1.weight"] = zeros(1);
        state["fc.weight"] = zeros(7, 512);
        var e = Assert.Throws<WeightsMismatchException>(() => WeightsFile.LoadInto(target, state, "test.pt"));
        Assert.Contains("missing keys (1): layer3.1.bn2.running_var", e.Message);
        Assert.Contains("unexpected keys (1): layer5.0.conv1.weight", e.Message);
        Assert.Contains("fc.weight: file [7,512], model [10,512]", e.Message);
        Assert.StartsWith("test.pt does not fit", e.Message);
    }

    [Fact]
    public void Legacy_files_without_batch_counters_load_as_in_pytorch_but_other_gaps_do_not()
    {
        using var model = ResNetModel.ResNet18(10, StemKind.Small);
        using var target = ResNetModel.ResNet18(10, StemKind.Small);
        RandomiseNorms(model);
        using (no_grad())
            foreach (var (key, t) in target.state_dict().Where(e => e.Key.EndsWith("num_batches_tracked")))
                t.fill_(5);
        var legacy = model.state_dict().Where(e => !e.Key.EndsWith("num_batches_tracked")).ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal(102, legacy.Count);
        WeightsFile.LoadInto(target, legacy, "legacy.pt");
        Assert.All(target.state_dict().Where(e => e.Key.EndsWith("num_batches_tracked")), e => Assert.Equal(0L, e.Value.item<long>()));
        Assert.True(target.state_dict()["layer1.0.bn1.running_var"].allclose(model.state_dict()["layer1.0.bn1.running_var"], rtol: 0, atol: 0));
        legacy.Remove("layer1.0.bn1.running_mean");
        var e = Assert.Throws<WeightsMismatchException>(() => WeightsFile.LoadInto(target, legacy, "legacy.pt"));
        Assert.Contains("missing keys (2): layer1.0.bn1.running_mean, layer1.0.bn1.num_batches_tracked", e.Message);
    }

    [Fact]
    public void A_card_that_disagrees_with_the_tensors_is_reported_by_key()
    {
        string path = Path.Combine(scratch.New(), "model.pt");
        using (var model = ResNetModel.ResNet18(10, StemKind.Small))
            WeightsFile.Save(model, new ModelCard(), path);
        string cardPath = ModelCard.PathFor(path);
        var card = ModelCard.FromJson(File.ReadAllText(cardPath));
        File.WriteAllText(cardPath, (card with { Architecture = card.Architecture with { NumClasses = 1000 } }).ToJson());
        var e = Assert.Throws<WeightsMismatchException>(() => WeightsFile.Load(path));
        Assert.Contains("fc.weight: file [10,512], model [1000,512]", e.Message);
        Assert.Contains("fc.bias: file [10], model [1000]", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Unsafe_files_are_refused_before_unpickling_and_really_are_harmful()
    {
        string dir = scratch.New();
        PythonReference.Run("unsafe_pickles.py", dir);
        var cases = new (string File, string Global)[]
        {
            ("system.pth", "posix.system"),
            ("eval.pth", "__builtin__.eval"), // protocol 2 spells builtins so
            ("custom_class.pth", "__main__.Custom"),
            ("stack_global.pth", "posix.system"),
        };
        foreach (var (file, global) in cases)
        {
            string path = Path.Combine(dir, file);
            var e = Assert.Throws<UnsafeWeightsException>(() => WeightsFile.ReadStateDict(path));
            Assert.Contains(global, e.Message);
            Assert.Contains(path, e.Message);
            Assert.Contains("Only tensors are accepted", e.Message);
            Assert.Throws<UnsafeWeightsException>(() => WeightsFile.Load(path));
        }
        Assert.Empty(Directory.GetFiles(dir, "*.ran"));
        // The fixtures are live: Python's own loader runs them.
        PythonReference.Run("unsafe_pickles.py", "--load", Path.Combine(dir, "system.pth"), Path.Combine(dir, "stack_global.pth"));
        Assert.True(File.Exists(Path.Combine(dir, "system.ran")));
        Assert.True(File.Exists(Path.Combine(dir, "stack_global.ran")));
    }

    [Fact]
    public void Legacy_format_non_tensor_entries_and_other_files_are_refused_clearly()
    {
        string dir = scratch.New();
        PythonReference.Run("unsafe_pickles.py", dir);
        var legacy = Assert.Throws<InvalidDataException>(() => WeightsFile.ReadStateDict(Path.Combine(dir, "legacy.pth")));
        Assert.Contains("legacy (pre-1.6) serialization format", legacy.Message);
        var notTensor = Assert.Throws<InvalidDataException>(() => WeightsFile.ReadStateDict(Path.Combine(dir, "not_tensor.pth")));
        Assert.Contains("entry 'name' is not a tensor", notTensor.Message);
        string text = Path.Combine(dir, "notes.pt");
        File.WriteAllText(text, "just some text");
        Assert.Contains("is not a torch.save zip archive", Assert.Throws<InvalidDataException>(() => WeightsFile.ReadStateDict(text)).Message);
        string damaged = Path.Combine(dir, "damaged.pt");
        File.WriteAllBytes(damaged, [0x50, 0x4B, 0x03, 0x04, 1, 2, 3]);
        Assert.Contains("damaged.pt", Assert.Throws<InvalidDataException>(() => WeightsFile.ReadStateDict(damaged)).Message);
    }

    [Fact]
    public void A_storage_that_claims_more_than_its_archive_entry_holds_is_refused_before_unpickling()
    {
        string dir = scratch.New();
        string source = Path.Combine(dir, "model.pt"), hostile = Path.Combine(dir, "hostile.pt");
        using (var model = ResNetModel.ResNet18(10, StemKind.Small))
            WeightsFile.Save(model, new ModelCard(), source);
        HostileInputTests.WithTensor(source, hostile, "layer1.0.conv1.weight", [64, 64, 3, 3], 1L << 40, 64);
        var e = Assert.Throws<InvalidDataException>(() => WeightsFile.Load(hostile));
        Assert.Contains("hostile.pt: refused: tensor 'layer1.0.conv1.weight' claims a storage of 1,099,511,627,776 elements (4,398,046,511,104 bytes), but data/extra holds 64 bytes", e.Message);
        Assert.Throws<InvalidDataException>(() => WeightsFile.ReadStateDict(hostile));
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x02, 0x82, 0x01, 0x2E }, "extension-registry")] // EXT1
    [InlineData(new byte[] { 0x80, 0x02, 0x63, (byte)'o', (byte)'s', 0x0A }, "unterminated line")] // GLOBAL cut short
    [InlineData(new byte[] { 0x80, 0x02, 0x52, 0x2E }, "stack underflow")] // REDUCE on nothing
    [InlineData(new byte[] { 0x80, 0x02, 0x4E }, "no STOP")]
    [InlineData(new byte[] { 0x80, 0x04, 0x4E, 0x4E, 0x93, 0x2E }, "STACK_GLOBAL without a literal")]
    [InlineData(new byte[] { 0xFF, 0x2E }, "unknown opcode 0xFF")]
    public void The_scanner_refuses_what_it_cannot_follow(byte[] pickle, string reason)
    {
        var e = Assert.Throws<UnsafeWeightsException>(() => PickleScanner.Check(pickle, "x.pkl"));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void The_scanner_refuses_a_tensor_whose_size_it_cannot_read_however_it_is_built()
    {
        // REDUCE, NEWOBJ and OBJ of the tensor rebuilder with arguments that are not a storage, offset, shape and strides.
        byte[] rebuilder = [.. "ctorch._utils\n_rebuild_tensor_v2\n"u8];
        foreach (byte[] pickle in new byte[][] { [.. rebuilder, (byte)')', (byte)'R', (byte)'.'], [.. rebuilder, (byte)')', 0x81, (byte)'.'], [(byte)'(', .. rebuilder, (byte)'o', (byte)'.'] })
            Assert.Contains("a tensor whose storage, offset, shape or strides cannot be read",
                Assert.Throws<UnsafeWeightsException>(() => PickleScanner.Check(pickle, "x.pkl")).Message);
    }

    [Fact]
    public void The_scanner_accepts_protocol_0_globals_that_are_allowed_and_names_the_rest()
    {
        PickleScanner.Check("ccollections\nOrderedDict\n)R."u8, "ok.pkl");
        var e = Assert.Throws<UnsafeWeightsException>(() => PickleScanner.Check("(ios\nsystem\nS'ls'\n."u8, "inst.pkl"));
        Assert.Contains("os.system", e.Message);
    }

    private static (float[] Features, float[] Logits) Forward(ResNetModel model, float[] input)
    {
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (features, logits) = model.FeaturesAndLogits(tensor(input, [input.Length / (3 * 224 * 224), 3, 224, 224]));
        return (features.data<float>().ToArray(), logits.data<float>().ToArray());
    }

    private static void RandomiseNorms(ResNetModel model)
    {
        using var noGrad = no_grad();
        foreach (var (key, t) in model.state_dict())
        {
            if (key.EndsWith("running_mean")) t.normal_(0, 0.1);
            else if (key.EndsWith("running_var")) t.uniform_(0.5, 1.5);
            else if (key.StartsWith("bn") || key.Contains(".bn") || key.Contains("downsample.1"))
            {
                if (key.EndsWith("weight")) t.uniform_(0.5, 1.5);
                else if (key.EndsWith("bias")) t.normal_(0, 0.1);
            }
        }
    }

    private static void AssertSameArchitecture(ResNetConfig expected, ResNetConfig actual)
    {
        Assert.Equal(expected.NumClasses, actual.NumClasses);
        Assert.Equal(expected.Stem, actual.Stem);
        Assert.Equal(expected.BlocksPerStage, actual.BlocksPerStage);
        Assert.Equal(expected.Widths, actual.Widths);
        Assert.Equal(expected.Padding, actual.Padding);
        Assert.Equal(expected.Block, actual.Block);
        Assert.Equal(expected.Shortcut, actual.Shortcut);
    }

    private void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]) / (1 + Math.Abs(expected[i])));
        output.WriteLine($"{what}: largest difference {worst:E2} (relative to 1 + |value|)");
        Assert.True(worst < 1e-4, $"{what}: largest difference {worst:E2} (relative to 1 + |value|) exceeds 1e-4");
    }
}
