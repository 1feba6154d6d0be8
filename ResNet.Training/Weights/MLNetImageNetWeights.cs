using Onnx;
using ResNet.Training.Imaging;
using ResNet.Training.Model;

namespace ResNet.Training.Weights;

/// <summary>
/// ML.NET's ImageNet ResNet18 — the network behind <c>DnnFeaturizeImage</c> with <c>ResNet18</c> — imported into a
/// <see cref="ResNetModel"/>: CNTK's ImageNet-trained model exported to ONNX, shipped in the NuGet package
/// <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> (MIT licence) as <c>DnnImageModels/ResNet18Onnx/ResNet18.onnx</c>
/// and <c>DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx</c>. Works offline: the package's build copies both files
/// into the output of any app that references it.
/// <para>
/// Its layout differs from torchvision's: layer4 has three blocks (2-2-2-3), strided layers pad CNTK's way
/// (<see cref="PaddingMode.SameLower"/>), and it has no classifier (the card's one-class head is zero; training
/// replaces it). Its input was BGR on the 0–255 scale minus a per-pixel mean image; here conv1's input channels are
/// reversed so it reads RGB like every other model, and the card's <see cref="Preprocessing"/> holds the rest: resize
/// 224 (IsoCrop, as ML.NET's <c>ResizeImages</c> does for <c>DnnFeaturizeImage</c>), crop 224, the mean image (in RGB
/// order), mean 0 and std 1/255. The 512 features then equal <c>DnnFeaturizeImage</c>'s.
/// </para>
/// </summary>
public static class MLNetImageNetWeights
{
    /// <summary>The word that asks for these weights on the command line (<c>--weights mlnet-imagenet[:PATH]</c>).</summary>
    public const string Name = "mlnet-imagenet";
    /// <summary>The NuGet package that ships the model.</summary>
    public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    /// <summary>The package version the import was made and checked against.</summary>
    public const string PackageVersion = "0.23.1";
    /// <summary>The only class name of the card: the model has no classifier.</summary>
    public const string NoClassifier = "no-classifier";

    /// <summary>CNTK's layout: four stages of 2-2-2-3 basic blocks, SAME_LOWER padding, no classifier (one zero output).</summary>
    public static ResNetConfig Architecture { get; } =
        ResNetConfig.ResNet18(1) with { BlocksPerStage = [2, 2, 2, 3], Padding = PaddingMode.SameLower };

    private const string ModelsFolder = "DnnImageModels";
    private static readonly string NetworkFile = Path.Combine("ResNet18Onnx", "ResNet18.onnx");
    private static readonly string PreprocessFile = Path.Combine("ResNetPrepOnnx", "ResNetPreprocess.onnx");

    /// <summary>
    /// True when <paramref name="weights"/> (a <c>--weights</c> value) asks for these weights: <c>mlnet-imagenet</c>, or
    /// <c>mlnet-imagenet:PATH</c> with <paramref name="path"/> the package folder, its <c>DnnImageModels</c> folder or an app
    /// output that holds it. An existing file of that name is a file, not this request.
    /// </summary>
    public static bool IsRequest(string weights, out string? path)
    {
        path = null;
        if (File.Exists(weights) || !weights.StartsWith(Name, StringComparison.OrdinalIgnoreCase)) return false;
        if (weights.Length == Name.Length) return true;
        if (weights[Name.Length] != ':') return false;
        path = weights[(Name.Length + 1)..];
        return true;
    }

    /// <summary>
    /// Imports the network and its card. <paramref name="path"/>, when given, is where the package's models are;
    /// otherwise they are looked for beside the app (copied by the package reference), then in the NuGet cache
    /// (<c>NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>).
    /// </summary>
    /// <exception cref="FileNotFoundException">The models are in none of those places; the message names the package to add.</exception>
    public static (ResNetModel Model, ModelCard Card) Load(string? path = null)
    {
        string folder = FindModels(path, AppContext.BaseDirectory, Environment.GetEnvironmentVariable);
        string network = Path.Combine(folder, NetworkFile);
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(network));
        var card = CardIn(folder) with { WeightsSha256 = WeightsFile.Sha256(network) };
        var stateDict = CntkResNetImport.ReadStateDict(proto, Architecture, network);
        var model = new ResNetModel(Architecture);
        try
        {
            WeightsFile.LoadInto(model, stateDict, network);
            return (model, card);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in stateDict.Values) t.Dispose();
        }
    }

    /// <summary>The card alone (architecture, class name, preprocessing), without reading the network; found as <see cref="Load"/> says.</summary>
    public static ModelCard LoadCard(string? path = null) => CardIn(FindModels(path, AppContext.BaseDirectory, Environment.GetEnvironmentVariable));

    private static ModelCard CardIn(string folder) => new()
    {
        Architecture = Architecture,
        ClassNames = [NoClassifier],
        Preprocessing = ReadPreprocessing(Path.Combine(folder, PreprocessFile)),
    };

    /// <summary>The folder holding <c>ResNet18Onnx/</c> and <c>ResNetPrepOnnx/</c>, searched as <see cref="Load"/> says.</summary>
    internal static string FindModels(string? path, string appDirectory, Func<string, string?> environment)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(path))
        {
            string full = Path.GetFullPath(path);
            candidates.AddRange([full, Path.Combine(full, ModelsFolder), Path.Combine(full, "tools", ModelsFolder)]);
        }
        else
        {
            candidates.Add(Path.Combine(appDirectory, ModelsFolder));
            string cache = environment("NUGET_PACKAGES") is { Length: > 0 } packages ? packages
                : Path.Combine(environment("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            candidates.Add(Path.Combine(cache, PackageId.ToLowerInvariant(), PackageVersion, "tools", ModelsFolder));
        }
        foreach (var folder in candidates)
            if (File.Exists(Path.Combine(folder, NetworkFile)) && File.Exists(Path.Combine(folder, PreprocessFile)))
                return folder;
        throw new FileNotFoundException(
            $"ML.NET's ImageNet ResNet18 ({Name}) was not found; looked for {NetworkFile} and {PreprocessFile} in: {string.Join(", ", candidates)}. " +
            $"Add the NuGet package {PackageId} {PackageVersion} to your project (<PackageReference Include=\"{PackageId}\" Version=\"{PackageVersion}\" />; " +
            $"its build copies the models into the output), or restore it into the NuGet cache, or give the package folder as {Name}:PATH.");
    }

    /// <summary>The card's preprocessing: IsoCrop 224, no extra crop, the mean image (BGR planes in the file, RGB here), 0–255 scale.</summary>
    private static Preprocessing ReadPreprocessing(string path)
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var mean = proto.Graph.Initializer.SingleOrDefault(t => t.Name == "MeanImage")
            ?? throw new InvalidDataException($"{path}: no 'MeanImage' initializer; not the preprocessing model of {PackageId}.");
        if (!mean.Dims.SequenceEqual([1L, 3, 224, 224]))
            throw new InvalidDataException($"{path}: 'MeanImage' is {string.Join("×", mean.Dims)}, expected 1×3×224×224.");
        if (!proto.Graph.Node.Any(n => n.OpType == "Concat") || proto.Graph.Node.Single(n => n.OpType == "Concat").Input.FirstOrDefault()?.StartsWith('B') != true)
            throw new InvalidDataException($"{path}: the graph does not reorder RGB to BGR as the one in {PackageId} {PackageVersion} does.");
        var bgr = CntkResNetImport.Floats(mean);
        int plane = 224 * 224;
        var rgb = new float[bgr.Length];
        for (int c = 0; c < 3; c++) bgr.AsSpan((2 - c) * plane, plane).CopyTo(rgb.AsSpan(c * plane, plane));
        float scale = 1f / 255f;
        return new Preprocessing { Resize = 224, Crop = 224, Mean = [0f, 0f, 0f], Std = [scale, scale, scale], MeanImage = rgb }.Validated();
    }
}
