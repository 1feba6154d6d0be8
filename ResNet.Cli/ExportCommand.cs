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
        var command = new Command("export", "Export a trained model to ONNX (BatchNorm folded, dynamic batch, outputs 'features' and 'logits').")
        {
            weights, output, opset, withPreprocessing, probabilities, cacheDir,
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
            OutputGuard.CheckFile("--output", outputPath, [weightsPath, ModelCard.PathFor(weightsPath)]);
            var (model, card) = EngineOptions.LoadWeights(weightsPath, parse.GetValue(cacheDir), cancel);
            OnnxModelInfo info;
            using (model)
                info = OnnxExporter.Export(model, card, outputPath, options);
            var a = info.Card.Architecture;
            Console.WriteLine($"wrote {outputPath} ({new FileInfo(outputPath).Length / 1e6:F1} MB, opset {info.Opset})");
            Console.WriteLine($"  model:   {a.Describe()}, BatchNorm folded");
            Console.WriteLine($"  input:   '{OnnxNames.Input}' float [{OnnxNames.BatchDim},3,{info.InputSide},{info.InputSide}], "
                + (info.WithPreprocessing ? "RGB planes of 0–255 (crop and normalisation in the graph)" : "normalised (x/255 − mean)/std"));
            Console.WriteLine($"  outputs: '{OnnxNames.Features}' [{OnnxNames.BatchDim},{a.FeatureDim}], '{OnnxNames.Logits}' [{OnnxNames.BatchDim},{a.NumClasses}]"
                + (info.HasProbabilities ? $", '{OnnxNames.Probabilities}' [{OnnxNames.BatchDim},{a.NumClasses}]" : ""));
            return 0;
        });
        return command;
    }
}
