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

    public Option<Precision> Precision { get; } = new("--precision")
    {
        Description = "float32, or int8 (ONNX Runtime on a QDQ model): an --onnx file exported with --precision int8, or --weights quantized now on --calibration images.",
        DefaultValueFactory = _ => Training.Onnx.Precision.Float32,
    };

    public Option<string[]> Calibration { get; } = new("--calibration")
    {
        Description = $"With --weights and --precision int8: image folders or files to calibrate on ({Int8Export.DefaultCalibrationCount} taken evenly across them).",
        AllowMultipleArgumentsPerToken = true,
    };

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
        command.Options.Add(Precision);
        command.Options.Add(Calibration);
    }

    /// <summary>
    /// Opens the engine the options describe. <paramref name="adjust"/> may change the card (preprocessing
    /// overrides, class names) before the engine uses it; <paramref name="cancel"/> stops a weights download.
    /// </summary>
    public IResNetEngine Open(ParseResult parse, Func<ModelCard, ModelCard>? adjust = null, CancellationToken cancel = default)
    {
        var choice = Device.Choice(parse);
        bool int8 = parse.GetValue(Precision) == Training.Onnx.Precision.Int8;
        if (parse.GetValue(Calibration) is { Length: > 0 } && !(int8 && parse.GetValue(Weights) is { Length: > 0 }))
            throw new ArgumentException("--calibration is only used with --weights and --precision int8 (an --onnx model was calibrated when it was exported).");
        if (parse.GetValue(Onnx) is { Length: > 0 } onnx)
        {
            if (parse.GetValue(Weights) is { Length: > 0 })
                throw new ArgumentException("--weights and --onnx are alternatives: give one of them.");
            // An --onnx file runs at the precision it was exported with; asking for int8 checks that it is.
            if (int8 && !Int8Quantizer.IsInt8(onnx))
                throw new ArgumentException($"--precision int8: {onnx} is a float32 model. Export an int8 one with 'resnet export --precision int8 --calibration DIR', or give --weights and --calibration.");
            // --device auto is the way to ask for the CPU when CUDA is unavailable; cuda means CUDA or an error.
            return OnnxEngine.Open(onnx, choice, Device.Gpu(parse), fallbackToCpu: false, adjust);
        }
        string weights = parse.GetValue(Weights) is { Length: > 0 } w
            ? w : throw new ArgumentException("--weights or --onnx is required: a weights file (.pt), 'imagenet', or an ONNX model from 'resnet export'.");
        if (int8)
            return OpenInt8(weights, parse, choice, adjust, cancel);
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

    /// <summary>Quantizes <c>--weights</c> on <c>--calibration</c> images into a temporary int8 model and opens it with ONNX Runtime.</summary>
    private IResNetEngine OpenInt8(string weights, ParseResult parse, DeviceChoice choice, Func<ModelCard, ModelCard>? adjust, CancellationToken cancel)
    {
        var calibration = parse.GetValue(Calibration) is { Length: > 0 } c
            ? ImageSources.Find(c)
            : throw new ArgumentException("--precision int8 with --weights needs --calibration: a folder of images like those you will run (64–256 are enough).");
        var (model, card) = LoadWeights(weights, parse.GetValue(CacheDir), cancel);
        string path = Path.Combine(Path.GetTempPath(), $"resnet-int8-{Guid.NewGuid():N}.onnx");
        try
        {
            using (model)
                Int8Export.Export(model, adjust?.Invoke(card) ?? card, path, new OnnxExportOptions(), calibration);
            return OnnxEngine.Open(path, choice, Device.Gpu(parse), fallbackToCpu: false);
        }
        finally
        {
            File.Delete(path); // ONNX Runtime holds the model in memory once the session is open
        }
    }

    /// <summary>The files these options read (weights and their card, ONNX model, calibration images), for <see cref="OutputGuard"/>.</summary>
    public IEnumerable<string?> InputFiles(ParseResult parse)
    {
        IEnumerable<string?> model = parse.GetValue(Weights) is { Length: > 0 } w ? [w, ModelCard.PathFor(w), parse.GetValue(Onnx)] : [parse.GetValue(Onnx)];
        return parse.GetValue(Calibration) is { Length: > 0 } calibration ? model.Concat(ImageSources.Find(calibration)) : model;
    }

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
