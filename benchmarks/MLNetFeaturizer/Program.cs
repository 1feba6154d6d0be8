using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Model;
using ResNet.Training.Weights;

// JPEG → 512-d features through two ML.NET pipelines on the same images, same process, one after the other:
//   ours:   LoadImages → ResNet18Featurizer (resize 256 IsoCrop → ONNX Runtime, batched; crop 224 + normalise in the graph)
//   ML.NET: LoadImages → ResizeImages 224 → ExtractPixels → DnnFeaturizeImage(ResNet18) (OnnxTransformer, row by row)
// Usage: MLNetFeaturizer IMAGE_DIR [--count N] [--batch-size B] [--weights W.pt] [--rounds R]
// Without --weights a seeded random ImageNet-stem ResNet18 is used: speed does not depend on the weights' values.
var argsList = args.ToList();
string Option(string name, string fallback)
{
    int i = argsList.IndexOf(name);
    return i >= 0 && i + 1 < argsList.Count ? argsList[i + 1] : fallback;
}
if (args.Length == 0 || args[0].StartsWith("--"))
{
    Console.Error.WriteLine("usage: MLNetFeaturizer IMAGE_DIR [--count N] [--batch-size B] [--weights W.pt] [--rounds R]");
    return 2;
}
int count = int.Parse(Option("--count", "1000")), batchSize = int.Parse(Option("--batch-size", "32")), rounds = int.Parse(Option("--rounds", "2"));
var files = Directory.GetFiles(args[0], "*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).Take(count).ToArray();

string weightsPath = Option("--weights", "");
if (weightsPath == "")
{
    weightsPath = Path.Combine(Path.GetTempPath(), "resnet18-benchmark-random.pt");
    TorchSharp.torch.manual_seed(1);
    using var model = ResNetModel.ResNet18(1000);
    WeightsFile.Save(model, new ModelCard { Architecture = model.Config }, weightsPath);
}

Console.WriteLine($"{files.Length} images from {args[0]}; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()}");
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(files.Select(f => new Row { ImagePath = f }).ToList());

var ours = ml.Transforms.LoadImages("Image", null, "ImagePath")
    .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.FromFile(weightsPath), batchSize))
    .Fit(data);
var dnn = ml.Transforms.LoadImages("Image", null, "ImagePath")
    .Append(ml.Transforms.ResizeImages("Resized", 224, 224, "Image"))
    .Append(ml.Transforms.ExtractPixels("Pixels", "Resized"))
    .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
    .Fit(data);

for (int round = 1; round <= rounds; round++)
{
    Measure($"ResNet18Featurizer (batch {batchSize})", ours);
    Measure("DnnFeaturizeImage ResNet18", dnn);
}
return 0;

void Measure(string name, ITransformer model)
{
    var output = model.Transform(data);
    var clock = Stopwatch.StartNew();
    int rows = 0, width = 0;
    using (var cursor = output.GetRowCursor([output.Schema["Features"]]))
    {
        var getter = cursor.GetGetter<VBuffer<float>>(output.Schema["Features"]);
        VBuffer<float> features = default;
        while (cursor.MoveNext())
        {
            getter(ref features);
            width = features.Length;
            rows++;
        }
    }
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"{name}: {rows} images × {width} features in {seconds:F1} s = {rows / seconds:F1} img/s");
}

internal sealed class Row
{
    public string ImagePath { get; set; } = "";
}
