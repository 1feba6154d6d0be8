using System.CommandLine;
using ResNet.Training.Engines;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Cli;

/// <summary>
/// The options that choose and open the model for every verb that runs one (<c>--weights</c> or <c>--onnx</c>,
/// <c>--device</c>, <c>--gpu-id</c>, <c>--cache-dir</c>) and the one place that turns them into an <see cref="IResNetEngine"/>.
/// Another engine kind is one more option here and one more branch in <see cref="Open"/>.
/// </summary>
internal sealed class EngineOptions
{
    /// <summary>The word that asks for torchvision's ImageNet weights instead of a file.</summary>
    public const string ImageNet = "imagenet";

    public Option<string> Weights { get; } = new("--weights")
    {
        Description = "Weights file (torch.save state dict; its model.json card is read when present), 'imagenet' for torchvision's ImageNet ResNet18 (downloaded once, cached, hash-checked), " +
            "or 'mlnet-imagenet[:PATH]' for ML.NET's ImageNet ResNet18 from the NuGet package " + MLNetImageNetWeights.PackageId + " (offline; beside the program, in the NuGet cache or in PATH).",
        HelpName = "W.pt|imagenet|mlnet-imagenet",
    };

    public Option<string?> Onnx { get; } = new("--onnx")
    {
        Description = "ONNX model written by 'resnet export', run with ONNX Runtime instead of TorchSharp (an alternative to --weights; its card comes from the model's metadata).",
        HelpName = "model.onnx",
    };

    public DeviceOptions Device { get; } = new();

    public Option<string?> CacheDir { get; } = CreateCacheDir();

    /// <summary>A <c>--cache-dir</c> option, for verbs that load weights without an engine (export).</summary>
    public static Option<string?> CreateCacheDir() => new("--cache-dir")
    {
        Description = $"Cache folder for --weights imagenet (default: ${ImageNetWeightsOptions.CacheVariable}, $XDG_CACHE_HOME/resnet-mlnet or ~/.cache/resnet-mlnet).",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Weights);
        command.Options.Add(Onnx);
        Device.AddTo(command);
        command.Options.Add(CacheDir);
    }

    /// <summary>
    /// Opens the engine the options describe. <paramref name="adjust"/> may change the card (preprocessing
    /// overrides, class names) before the engine uses it; <paramref name="cancel"/> stops a weights download.
    /// </summary>
    public IResNetEngine Open(ParseResult parse, Func<ModelCard, ModelCard>? adjust = null, CancellationToken cancel = default)
    {
        var choice = Device.Choice(parse);
        if (parse.GetValue(Onnx) is { Length: > 0 } onnx)
        {
            if (parse.GetValue(Weights) is { Length: > 0 })
                throw new ArgumentException("--weights and --onnx are alternatives: give one of them.");
            // --device auto is the way to ask for the CPU when CUDA is unavailable; cuda means CUDA or an error.
            return OnnxEngine.Open(onnx, choice, Device.Gpu(parse), fallbackToCpu: false, adjust);
        }
        string weights = parse.GetValue(Weights) is { Length: > 0 } w
            ? w : throw new ArgumentException("--weights or --onnx is required: a weights file (.pt), 'imagenet', or an ONNX model from 'resnet export'.");
        var device = TorchDevice.Resolve(choice, Device.Gpu(parse));
        var (model, card) = LoadWeights(weights, parse.GetValue(CacheDir), cancel);
        try
        {
            return new TorchSharpEngine(model, adjust?.Invoke(card) ?? card, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The files these options read (weights and their card, ONNX model), for <see cref="OutputGuard"/>.</summary>
    public IEnumerable<string?> InputFiles(ParseResult parse) =>
        parse.GetValue(Weights) is { Length: > 0 } w ? [w, ModelCard.PathFor(w), parse.GetValue(Onnx)] : [parse.GetValue(Onnx)];

    /// <summary>
    /// Loads <c>--weights</c> for every verb (train, export, featurize, predict): a weights file, or torchvision's
    /// ImageNet weights for 'imagenet' (cached in <paramref name="cacheDir"/>), or ML.NET's for 'mlnet-imagenet[:PATH]'.
    /// </summary>
    public static (ResNetModel Model, ModelCard Card) LoadWeights(string weights, string? cacheDir, CancellationToken cancel) =>
        MLNetImageNetWeights.IsRequest(weights, out var packageFolder) ? MLNetImageNetWeights.Load(packageFolder)
        : weights.Equals(ImageNet, StringComparison.OrdinalIgnoreCase) && !File.Exists(weights)
            ? ImageNetWeights.Load(new ImageNetWeightsOptions { CacheDirectory = cacheDir }, cancel)
            : WeightsFile.Load(weights);
}
