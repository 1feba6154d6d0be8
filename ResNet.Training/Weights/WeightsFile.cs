using ResNet.Training.Native;
using System.Collections;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.PyBridge;
using ResNet.Training.Model;
using ResNet.Training.Training;
using static TorchSharp.torch;

namespace ResNet.Training.Weights;

/// <summary>Thrown when a weights file does not fit the network; the message lists what differs.</summary>
public sealed class WeightsMismatchException(string message) : Exception(message);

/// <summary>
/// Reads and writes weights in PyTorch's <c>torch.save(model.state_dict())</c> format, with the <see cref="ModelCard"/>
/// beside it. Loading is strict: every key must be present with the right shape, and nothing extra.
/// <para>
/// A file is checked before any tensor is inflated: its pickles name only a state dict's globals
/// (<see cref="PickleScanner"/>), its archive inflates to at most <see cref="MaxInflatedBytes"/>, every tensor lies within
/// the bytes its storage holds, and — when the network is known — its keys and shapes are the network's. A damaged or
/// hostile file therefore fails with a message that names the file and the key, at a bounded cost in memory.
/// </para>
/// </summary>
public static class WeightsFile
{
    /// <summary>Loads a network and its card from <paramref name="path"/>. Without a card, the architecture is read from the tensors' shapes.</summary>
    public static (ResNetModel Model, ModelCard Card) Load(string path)
    {
        var (bytes, shapes) = Read(path);
        string cardPath = ModelCard.PathFor(path);
        var card = File.Exists(cardPath)
            ? ModelCard.FromJson(File.ReadAllText(cardPath), cardPath)
            : new ModelCard { Architecture = InferConfig(shapes, path) };
        card = card with { WeightsSha256 = Sha256(path) };
        var model = new ResNetModel(card.Architecture);
        try
        {
            Fill(model, bytes, shapes, path);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, card);
    }

    /// <summary>
    /// Loads the state dict file <paramref name="path"/> into <paramref name="model"/>; its keys and shapes are checked
    /// against the model from the file's pickle, before any tensor is inflated.
    /// </summary>
    public static void LoadInto(ResNetModel model, string path)
    {
        var (bytes, shapes) = Read(path);
        Fill(model, bytes, shapes, path);
    }

    private static void Fill(ResNetModel model, byte[] bytes, IReadOnlyDictionary<string, long[]> shapes, string path)
    {
        CheckFits(model, shapes, path);
        var stateDict = Unpickle(bytes, path);
        try
        {
            LoadInto(model, stateDict, path);
        }
        finally
        {
            foreach (var t in stateDict.Values) t.Dispose();
        }
    }

    /// <summary>Copies a state dict into <paramref name="model"/> after checking every key and shape.</summary>
    public static void LoadInto(ResNetModel model, IReadOnlyDictionary<string, Tensor> stateDict, string source)
    {
        CheckFits(model, stateDict.ToDictionary(e => e.Key, e => e.Value.shape), source);
        var expected = model.state_dict();
        using var noGrad = no_grad();
        foreach (var (key, target) in expected)
        {
            if (stateDict.TryGetValue(key, out var value)) target.copy_(value.to(target.dtype));
            else target.zero_(); // a legacy file's BatchNorm batch counter, started at 0 as PyTorch does
        }
    }

    /// <summary>Throws <see cref="WeightsMismatchException"/> listing what differs when the keys and shapes are not the model's.</summary>
    private static void CheckFits(ResNetModel model, IReadOnlyDictionary<string, long[]> stateDict, string source)
    {
        var expected = Shapes(model);
        var (missing, unexpected, shapes) = Differences(expected, stateDict);
        if (missing.Count + unexpected.Count + shapes.Count > 0)
        {
            if (OtherArchitecture(stateDict, model.Config) is { } other)
                throw new WeightsMismatchException(
                    $"{source} is a {other} state dict, not a {model.Config.Describe()}: {missing.Count} missing keys, {unexpected.Count} unexpected, {shapes.Count} of another shape. "
                    + "Load it as the network it is (without a model card, or with a card that describes it).");
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
            if (shapes.Count > 0) parts.Add($"shape mismatches ({shapes.Count}): {string.Join("; ", shapes)}");
            throw new WeightsMismatchException($"{source} does not fit a {model.Config.Describe()}: {string.Join(". ", parts)}.");
        }
    }

    private static Dictionary<string, long[]> Shapes(ResNetModel model) => model.state_dict().ToDictionary(e => e.Key, e => e.Value.shape);

    /// <summary>Keys the file lacks, keys the model lacks, and keys whose shapes differ (file and model shape).</summary>
    private static (List<string> Missing, List<string> Unexpected, List<string> Shapes) Differences(
        IReadOnlyDictionary<string, long[]> expected, IReadOnlyDictionary<string, long[]> stateDict) =>
        (expected.Keys.Where(k => !stateDict.ContainsKey(k) && !IsLegacyBatchCounter(k, stateDict)).ToList(),
         stateDict.Keys.Where(k => !expected.ContainsKey(k)).ToList(),
         expected.Keys.Where(stateDict.ContainsKey)
            .Where(k => !expected[k].SequenceEqual(stateDict[k]))
            .Select(k => $"{k}: file [{string.Join(",", stateDict[k])}], model [{string.Join(",", expected[k])}]")
            .ToList());

    /// <summary>
    /// What the state dict is, when it is exactly another network of the family (every key and shape of the
    /// architecture read off it, nothing else), so that the error names that network rather than listing its keys.
    /// </summary>
    private static string? OtherArchitecture(IReadOnlyDictionary<string, long[]> stateDict, ResNetConfig expected)
    {
        ResNetConfig actual;
        try
        {
            actual = InferConfig(stateDict, "");
            actual.Validate();
        }
        catch (Exception e) when (e is WeightsMismatchException or ArgumentException)
        {
            return null;
        }
        // Another head or padding alone is best told by the list of differing keys.
        if ((actual with { NumClasses = expected.NumClasses }).Describe() == expected.Describe()) return null;
        using var probe = new ResNetModel(actual);
        var (missing, unexpected, shapes) = Differences(Shapes(probe), stateDict);
        return missing.Count + unexpected.Count + shapes.Count == 0 ? actual.Describe() : null;
    }

    /// <summary>
    /// BatchNorm's <c>num_batches_tracked</c> counter is absent from files written before PyTorch 0.4.1 (and from
    /// weights converted from them, such as torchvision's original ImageNet checkpoints); PyTorch's strict loading
    /// starts it at 0 when the layer's running statistics are present, and so does this loader. It only matters
    /// when training with momentum=None.
    /// </summary>
    private static bool IsLegacyBatchCounter(string key, IReadOnlyDictionary<string, long[]> stateDict) =>
        key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)
        && stateDict.ContainsKey(key[..^".num_batches_tracked".Length] + ".running_mean");

    /// <summary>Writes the state dict (PyTorch format) and the card; both atomically (temporary file, then rename).</summary>
    public static void Save(ResNetModel model, ModelCard card, string path)
    {
        AtomicFile.Write(path, stream => model.save_py(stream, leaveOpen: true));
        AtomicFile.WriteAllText(ModelCard.PathFor(path), (card with { Architecture = model.Config, WeightsSha256 = Sha256(path) }).ToJson());
    }

    /// <summary>
    /// Reads a PyTorch state dict file into named tensors (the caller disposes them). The file must be
    /// <c>torch.save</c>'s zip format (PyTorch 1.6 and later); every pickle in it is checked by
    /// <see cref="PickleScanner"/> before anything is unpickled, so a file that names anything but tensors is refused.
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        var (bytes, _) = Read(path);
        return Unpickle(bytes, path);
    }

    /// <summary>The file's bytes, checked (see the class remarks), and the shape of each tensor its state dict holds.</summary>
    private static (byte[] Bytes, Dictionary<string, long[]> Shapes) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Weights file not found: {path}", path);
        var bytes = File.ReadAllBytes(path);
        return (bytes, CheckArchive(bytes, path));
    }

    private static Dictionary<string, Tensor> Unpickle(byte[] bytes, string path)
    {
        NativeBackends.EnsureTorchSharp();
        Hashtable table;
        try
        {
            // Unpickle the very bytes that were checked: the file may change on disk in between.
            using var stream = new MemoryStream(bytes, writable: false);
            table = PyTorchUnpickler.UnpickleStateDict(stream);
        }
        catch (Exception e)
        {
            // libtorch's messages carry a native stack trace after the first line: the user needs only the first.
            string reason = e.Message.Split('\n', 2)[0].Trim();
            throw new InvalidDataException($"{path}: not a PyTorch state dict saved with torch.save(model.state_dict()) ({reason}).", e);
        }
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Key is not string key || entry.Value is not Tensor tensor)
            {
                foreach (var value in table.Values) (value as IDisposable)?.Dispose();
                throw new InvalidDataException($"{path}: entry '{entry.Key}' is not a tensor; only a state dict of tensors is accepted.");
            }
            result[key] = tensor;
        }
        return result;
    }

    /// <summary>
    /// Refuses anything but a torch.save zip whose pickles name only the globals of a tensor state dict and whose tensors
    /// lie within their storages, within <see cref="MaxInflatedBytes"/>; returns the state dict's shapes.
    /// </summary>
    private static Dictionary<string, long[]> CheckArchive(byte[] bytes, string path)
    {
        if (bytes.Length < 4 || bytes[0] != 0x50 || bytes[1] != 0x4B || bytes[2] != 0x03 || bytes[3] != 0x04)
        {
            string what = bytes.Length >= 2 && bytes[0] == 0x80 && bytes[1] <= 5
                ? "is in PyTorch's legacy (pre-1.6) serialization format"
                : "is not a torch.save zip archive";
            throw new InvalidDataException(
                $"{path} {what}. Re-save it with PyTorch 1.6 or later: torch.save(torch.load(old), new) — only in a trusted Python session, since loading runs the file's pickle.");
        }
        try
        {
            using var archive = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            // Bound what unpickling will inflate, by the sizes the archive declares, before inflating anything.
            long declared = archive.Entries.Sum(e => e.Length);
            if (declared > MaxInflatedBytes)
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}: refused: its entries inflate to {declared / 1e6:F0} MB, over the limit of {MaxInflatedBytes / 1e6:F0} MB for a weights file (WeightsFile.MaxInflatedBytes) — a damaged or hostile archive."));
            var pickles = archive.Entries.Where(e => e.Name.EndsWith(".pkl", StringComparison.Ordinal)).ToList();
            if (!pickles.Any(e => e.Name == "data.pkl")) throw new InvalidDataException($"{path}: the archive has no data.pkl; not a torch.save file.");
            Dictionary<string, long[]>? shapes = null;
            foreach (var entry in pickles)
            {
                using var stream = entry.Open();
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                var contents = PickleScanner.Check(copy.GetBuffer().AsSpan(0, (int)copy.Length), $"{path} ({entry.FullName})");
                TensorBounds.Check(contents, archive, path);
                if (entry.Name == "data.pkl") shapes = StateDictShapes(contents, path);
            }
            return shapes!;
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: damaged zip archive ({e.Message}).", e);
        }
    }

    /// <summary>The shape of each entry of the state dict that <c>data.pkl</c> builds; refuses anything but a dict of tensors.</summary>
    private static Dictionary<string, long[]> StateDictShapes(PickleContents contents, string path)
    {
        if (contents.StateDict is null)
            throw new InvalidDataException($"{path}: not a PyTorch state dict saved with torch.save(model.state_dict()) (its data.pkl builds no dict).");
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (key, header) in contents.StateDict)
            shapes[key] = header?.Shape ?? throw new InvalidDataException($"{path}: entry '{key}' is not a tensor; only a state dict of tensors is accepted.");
        return shapes;
    }

    /// <summary>
    /// The most a weights archive may inflate to: 512 MiB, twice a ResNet-152's 230 MB of float32 weights. A zip bomb
    /// (megabytes that inflate to gigabytes) is refused from the sizes its directory declares, before inflating.
    /// </summary>
    public static long MaxInflatedBytes { get; set; } = 512L << 20;

    /// <summary>
    /// Reads the architecture off the shapes (key → shape) of a torchvision-style state dict: classes from <c>fc</c>, stem from <c>conv1</c>'s kernel,
    /// stages and blocks from the <c>layerS.B</c> keys, bottleneck from <c>conv3</c>, widths from each stage's first
    /// convolution, projection shortcuts from <c>downsample</c>. Keys cannot tell a plain network from one with
    /// option-A shortcuts (neither has parameters in its shortcuts); such weights load as option A unless their card says otherwise.
    /// </summary>
    public static ResNetConfig InferConfig(IReadOnlyDictionary<string, long[]> sd, string source)
    {
        if (!sd.TryGetValue("fc.weight", out var fc) || !sd.TryGetValue("conv1.weight", out var conv1) || conv1.Length != 4 || fc.Length != 2)
            throw new WeightsMismatchException($"{source} is not a ResNet state dict: it has no fc.weight or conv1.weight.");
        var blocks = new List<int>();
        while (sd.TryGetValue($"layer{blocks.Count + 1}.0.conv1.weight", out var first) && first.Length == 4)
        {
            int b = 0;
            while (sd.ContainsKey($"layer{blocks.Count + 1}.{b}.conv1.weight")) b++;
            blocks.Add(b);
        }
        if (blocks.Count == 0)
            throw new WeightsMismatchException($"{source} is not a ResNet state dict: it has no layer1.0.conv1.weight.");
        bool bottleneck = sd.ContainsKey("layer1.0.conv3.weight");
        // Some block changes shape (so needs a shortcut with or without parameters) when a second stage halves the
        // resolution or the first block's output differs from the stem's.
        var firstConv = sd["layer1.0.conv1.weight"];
        bool reshapes = blocks.Count > 1 || firstConv[1] != (bottleneck ? ResNetConfig.BottleneckExpansion : 1) * firstConv[0];
        bool projections = sd.Keys.Any(k => k.Contains(".downsample.", StringComparison.Ordinal));
        return new ResNetConfig
        {
            NumClasses = (int)fc[0],
            Stem = conv1[^1] == 7 ? StemKind.ImageNet : StemKind.Small,
            BlocksPerStage = [.. blocks],
            Widths = Enumerable.Range(1, blocks.Count).Select(s => (int)sd[$"layer{s}.0.conv1.weight"][0]).ToArray(),
            Block = bottleneck ? BlockKind.Bottleneck : BlockKind.Basic,
            Shortcut = projections || !reshapes ? ShortcutKind.Projection : ShortcutKind.ZeroPad,
        };
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
