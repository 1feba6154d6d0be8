using System.CommandLine;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Cli;

/// <summary><c>resnet export</c>: writes a weights file as an ONNX model (docs/onnx.md).</summary>
internal static class ExportCommand
{
    /// <summary>Creates the verb.</summary>
    public static Command Create()
    {
        var weights = new Option<string>("--weights")
        {
            Description = "Weights file (model.pt, with model.json beside it when it has one), 'imagenet' for torchvision's ImageNet ResNet18, or 'mlnet-imagenet[:PATH]' for ML.NET's (NuGet package " + MLNetImageNetWeights.PackageId + ").",
            Required = true,
            HelpName = "W.pt|imagenet|mlnet-imagenet",
        };
        var cacheDir = EngineOptions.CreateCacheDir();
        var output = new Option<string>("--output") { Description = "ONNX file to write.", Required = true };
        var opset = new Option<int>("--opset")
        {
            Description = $"ONNX opset, {OnnxExportOptions.MinOpset}..{OnnxExportOptions.MaxOpset}.",
            DefaultValueFactory = _ => OnnxExportOptions.MinOpset,
        };
        var withPreprocessing = new Option<bool>("--with-preprocessing")
        {
            Description = "Take 0–255 RGB planes of Resize² (ML.NET ResizeImages + ExtractPixels) and crop and normalise inside the graph.",
        };
        var probabilities = new Option<bool>("--probabilities") { Description = "Add a 'probabilities' output (softmax of the logits)." };
        var precision = new Option<Precision>("--precision")
        {
            Description = "float32, or int8: a QDQ model with int8 weights and uint8 activations calibrated on --calibration images (docs/onnx.md).",
            DefaultValueFactory = _ => Precision.Float32,
        };
        var calibration = new Option<string[]>("--calibration")
        {
            Description = "With --precision int8: image folders or files like those the model will see, to measure activation ranges.",
            AllowMultipleArgumentsPerToken = true,
        };
        var calibrationCount = new Option<int>("--calibration-count")
        {
            Description = "With --precision int8: how many --calibration images to use (taken evenly across them).",
            DefaultValueFactory = _ => Int8Export.DefaultCalibrationCount,
        };
        var int8Weights = new Option<Int8WeightRange>("--int8-weights")
        {
            Description = "With --precision int8: auto (7-bit on x86 CPUs without VNNI, where 8-bit weights can saturate; 8-bit otherwise), reduced or full.",
            DefaultValueFactory = _ => Int8WeightRange.Auto,
        };
        var command = new Command("export", "Export a trained model to ONNX (BatchNorm folded, dynamic batch, outputs 'features' and 'logits').")
        {
            weights, output, opset, withPreprocessing, probabilities, precision, calibration, calibrationCount, int8Weights, cacheDir,
        };
        CliAction.Set(command, (parse, cancel) =>
        {
            var options = new OnnxExportOptions
            {
                Opset = parse.GetValue(opset),
                WithPreprocessing = parse.GetValue(withPreprocessing),
                Probabilities = parse.GetValue(probabilities),
            };
            options.Validate();
            string weightsPath = parse.GetValue(weights)!, outputPath = parse.GetValue(output)!;
            bool int8 = parse.GetValue(precision) == Precision.Int8;
            var calibrationFiles = parse.GetValue(calibration) is { Length: > 0 } c ? ImageSources.Find(c) : null;
            if (int8 && calibrationFiles is null)
                throw new ArgumentException("--precision int8 needs --calibration: a folder of images like those the model will see (64–256 are enough).");
            if (!int8 && calibrationFiles is not null)
                throw new ArgumentException("--calibration is only used with --precision int8.");
            OutputGuard.CheckFile("--output", outputPath, [weightsPath, ModelCard.PathFor(weightsPath), .. calibrationFiles ?? []]);
            var range = Int8Schemes.Resolve(parse.GetValue(int8Weights));
            var (model, card) = EngineOptions.LoadWeights(weightsPath, parse.GetValue(cacheDir), cancel);
            OnnxModelInfo info;
            using (model)
                info = int8
                    ? Int8Export.Export(model, card, outputPath, options, calibrationFiles!, parse.GetValue(calibrationCount), range)
                    : OnnxExporter.Export(model, card, outputPath, options);
            var a = info.Card.Architecture;
            Console.WriteLine($"wrote {outputPath} ({new FileInfo(outputPath).Length / 1e6:F1} MB, opset {info.Opset})");
            Console.WriteLine($"  model:   {a.Describe()}, BatchNorm folded");
            if (int8)
                Console.WriteLine($"  int8:    {Int8Quantizer.DescribeScheme(range, Math.Min(calibrationFiles!.Count, parse.GetValue(calibrationCount)))}");
            Console.WriteLine($"  input:   '{OnnxNames.Input}' float [{OnnxNames.BatchDim},3,{info.InputSide},{info.InputSide}], "
                + (info.WithPreprocessing ? "RGB planes of 0–255 (crop and normalisation in the graph)" : "normalised (x/255 − mean)/std"));
            Console.WriteLine($"  outputs: '{OnnxNames.Features}' [{OnnxNames.BatchDim},{a.FeatureDim}], '{OnnxNames.Logits}' [{OnnxNames.BatchDim},{a.NumClasses}]"
                + (info.HasProbabilities ? $", '{OnnxNames.Probabilities}' [{OnnxNames.BatchDim},{a.NumClasses}]" : ""));
            return 0;
        });
        return command;
    }
}
