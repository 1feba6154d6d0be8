using Google.Protobuf;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.MLNet;

/// <summary>
/// The trained network a ResNet18 transform or trainer starts from: a TorchSharp/PyTorch weights file with its model
/// card (<c>model.pt</c> + <c>model.json</c>), an ONNX file exported with preprocessing, or torchvision's ImageNet weights.
/// The card supplies the class names and the preprocessing (resize, crop, mean/std), so nothing is re-typed.
/// </summary>
/// <example>
/// <code>
/// var weights = ResNet18Weights.FromFile("runs/cifar/best.pt");   // reads runs/cifar/best.json too
/// Console.WriteLine(string.Join(", ", weights.Card.Labels));
/// var featurize = ml.Transforms.ResNet18Featurizer("Features", "Image", weights);
/// </code>
/// </example>
public sealed class ResNet18Weights
{
    private readonly Func<byte[]> exportOnnx;
    private readonly Func<(ResNetModel, ModelCard)>? loadModel;
    private readonly Lazy<ModelCard> card;
    private byte[]? onnx;

    private ResNet18Weights(string source, ModelCard card, Func<byte[]> exportOnnx, Func<(ResNetModel, ModelCard)>? loadModel)
        : this(source, () => card, exportOnnx, loadModel)
    {
    }

    private ResNet18Weights(string source, Func<ModelCard> card, Func<byte[]> exportOnnx, Func<(ResNetModel, ModelCard)>? loadModel)
    {
        Source = source;
        this.card = new Lazy<ModelCard>(card);
        this.exportOnnx = exportOnnx;
        this.loadModel = loadModel;
    }

    /// <summary>Where the weights come from (a path, or a description).</summary>
    public string Source { get; }

    /// <summary>Architecture, class names and preprocessing.</summary>
    public ModelCard Card => card.Value;

    /// <inheritdoc/>
    public override string ToString() => Source;

    /// <summary>
    /// Weights from a file: a <c>.pt</c> state dict (with its <c>.json</c> model card beside it when there is one),
    /// or an <c>.onnx</c> model exported with <c>resnet export --with-preprocessing</c>.
    /// </summary>
    public static ResNet18Weights FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Weights file not found: {path}", path);
        return Path.GetExtension(path).Equals(".onnx", StringComparison.OrdinalIgnoreCase) ? FromOnnx(path) : FromStateDict(path);
    }

    private static ResNet18Weights FromStateDict(string path)
    {
        string cardPath = ModelCard.PathFor(path);
        ModelCard card;
        if (File.Exists(cardPath))
        {
            card = ModelCard.FromJson(File.ReadAllText(cardPath), cardPath);
        }
        else
        {
            var (model, loaded) = WeightsFile.Load(path);
            model.Dispose();
            card = loaded;
        }
        return new ResNet18Weights(path, card, () => ExportWithPreprocessing(WeightsFile.Load(path)), () => WeightsFile.Load(path));
    }

    /// <summary>
    /// Weights of a network held in this process (trained with <c>ResNet.Training</c>'s <c>Trainer</c>, or the trainer
    /// estimator's result), for the featurizer and classifier transforms. The model is exported to ONNX at once, so later
    /// changes to it are not seen; fine-tuning from these weights needs a saved <c>.pt</c> file instead.
    /// </summary>
    /// <param name="model">The network (not disposed, not changed).</param>
    /// <param name="card">Its class names and preprocessing.</param>
    /// <param name="source">How the weights are described in messages.</param>
    public static ResNet18Weights FromModel(ResNetModel model, ModelCard card, string source = "in-memory model")
    {
        var bytes = ExportWithPreprocessing((model, card), disposeModel: false);
        return new ResNet18Weights(source, card with { Architecture = model.Config }, () => bytes, loadModel: null);
    }

    /// <summary>
    /// torchvision's ImageNet ResNet18 (1000 numbered classes, ImageNet preprocessing), downloaded into the user cache
    /// on first use (see <see cref="ImageNetWeights"/>), not before: as <c>InitialWeights</c> of the trainer its head is
    /// replaced for the training classes.
    /// </summary>
    public static ResNet18Weights ImageNet { get; } = new(
        "torchvision ImageNet ResNet18 (" + ImageNetWeightsOptions.DefaultFileName + ")",
        new ModelCard { Architecture = ResNetConfig.ResNet18(1000), Preprocessing = Preprocessing.ImageNet },
        () => ExportWithPreprocessing(ImageNetWeights.Load()),
        () => ImageNetWeights.Load());

    /// <summary>
    /// ML.NET's own ImageNet ResNet18 (the network of <c>DnnFeaturizeImage</c> with <c>ResNet18</c>): CNTK's
    /// ImageNet-trained model, layout 2-2-2-3 blocks with CNTK's asymmetric padding, MIT licence, shipped in the NuGet
    /// package <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> — add that package to your app (its build copies the
    /// models into the output); the NuGet cache is searched too. Offline, its 512 features equal
    /// <c>DnnFeaturizeImage</c>'s; it has no classifier, so use it for features or as <c>InitialWeights</c> of the trainer,
    /// which replaces the head. The card's preprocessing (resize 224, a per-pixel mean image, 0–255 scale) travels
    /// with it. See <see cref="MLNetImageNetWeights"/>.
    /// </summary>
    /// <example>
    /// <code>
    /// // dotnet add package Microsoft.ML.DnnImageFeaturizer.ResNet18 --version 0.23.1
    /// var featurize = ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.MLNetImageNet);
    /// </code>
    /// </example>
    public static ResNet18Weights MLNetImageNet { get; } = MLNetImageNetFrom(null);

    /// <summary>
    /// <see cref="MLNetImageNet"/> from the package's files in <paramref name="packageFolder"/> (the package folder, its
    /// <c>DnnImageModels</c> folder, or an app output holding it); null searches as <see cref="MLNetImageNet"/> does.
    /// </summary>
    public static ResNet18Weights MLNetImageNetFrom(string? packageFolder) => new(
        $"ML.NET ImageNet ResNet18 ({MLNetImageNetWeights.PackageId} {MLNetImageNetWeights.PackageVersion}, CNTK)",
        () => MLNetImageNetWeights.LoadCard(packageFolder),
        () => ExportWithPreprocessing(MLNetImageNetWeights.Load(packageFolder)),
        () => MLNetImageNetWeights.Load(packageFolder));

    private static byte[] ExportWithPreprocessing((ResNetModel Model, ModelCard Card) loaded, bool disposeModel = true)
    {
        try
        {
            return OnnxExporter.Build(loaded.Model, loaded.Card, new OnnxExportOptions { WithPreprocessing = true }).ToByteArray();
        }
        finally
        {
            if (disposeModel) loaded.Model.Dispose();
        }
    }

    private static ResNet18Weights FromOnnx(string path)
    {
        var info = OnnxModelInfo.Read(path);
        if (!info.WithPreprocessing)
            throw new InvalidDataException(
                $"{path} was exported without preprocessing: the ML.NET transforms feed it 0–255 RGB planes of {info.Card.Preprocessing.Resize}² images. " +
                "Export it with preprocessing (OnnxExportOptions.WithPreprocessing, or `resnet export --with-preprocessing`), or pass the .pt weights.");
        var bytes = File.ReadAllBytes(path);
        return new ResNet18Weights(path, info.Card, () => bytes, loadModel: null);
    }

    /// <summary>The ONNX model with preprocessing: input N×3×Resize×Resize RGB planes (0–255), outputs features and logits.</summary>
    internal byte[] OnnxModel => onnx ??= exportOnnx();

    /// <summary>A fresh TorchSharp network with these weights (for fine-tuning); the caller disposes it.</summary>
    internal (ResNetModel Model, ModelCard Card) LoadModel() =>
        loadModel?.Invoke() ?? throw new NotSupportedException(
            $"{Source}: fine-tuning needs PyTorch-format weights (.pt with its .json card); ONNX models can only be used for inference.");
}
