// A user's app on the packed packages: ResNet18 features into an ML.NET trainer, a ResNet18 classifier from a .pt
// file, and a saved pipeline that reloads. Usage: ConsumerApp <train-folder> <test-folder> <model.pt> <output-folder>
// where the image folders hold one folder per class.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data; // GetColumn
using ResNet.MLNet;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: ConsumerApp <train-folder> <test-folder> <model.pt> <output-folder>");
    return 2;
}
var (trainFolder, testFolder, weightsPath, output) = (args[0], args[1], args[2], args[3]);
Directory.CreateDirectory(output);
var ml = new MLContext(seed: 1);
var weights = ResNet18Weights.FromFile(weightsPath);
var train = ml.Data.LoadFromEnumerable(ImageRow.InFolder(trainFolder));
var test = ml.Data.LoadFromEnumerable(ImageRow.InFolder(testFolder));

// 1. ResNet18 features -> LbfgsMaximumEntropy.
var featurize = ml.Transforms.LoadImages("Image", null, nameof(ImageRow.ImagePath))
    .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", weights));
var featurizer = featurize.Fit(train);
using (var csv = new StreamWriter(Path.Combine(output, "features.csv")))
{
    csv.WriteLine("path," + string.Join(",", Enumerable.Range(0, 512).Select(i => $"f{i}")));
    var featured = featurizer.Transform(train);
    var paths = featured.GetColumn<string>(nameof(ImageRow.ImagePath)).ToList();
    var features = featured.GetColumn<float[]>("Features").ToList();
    for (int i = 0; i < paths.Count; i++)
        csv.WriteLine(paths[i] + "," + string.Join(",", features[i].Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
}
var linear = featurize
    .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"))
    .Fit(train);
var linearMetrics = ml.MulticlassClassification.Evaluate(linear.Transform(test));
Console.WriteLine($"LbfgsMaximumEntropy on ResNet18 features: test accuracy {linearMetrics.MicroAccuracy:F3}");

// 2. The network's own classifier, from the .pt file and its class names.
var classify = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.Transforms.LoadImages("Image", null, nameof(ImageRow.ImagePath)))
    .Append(ml.Transforms.ResNet18Classifier("Image", weights));
var classifier = classify.Fit(train);
var scored = classifier.Transform(test);
Console.WriteLine($"ResNet18 classifier: test accuracy {ml.MulticlassClassification.Evaluate(scored).MicroAccuracy:F3}");

// 3. Save, reload, and score the same rows again.
string zip = Path.Combine(output, "classifier.zip");
ml.Model.Save(classifier, train.Schema, zip);
var reloaded = ml.Model.Load(zip, out _);
var before = scored.GetColumn<float[]>("Score").ToList();
var after = reloaded.Transform(test).GetColumn<float[]>("Score").ToList();
float largest = before.Zip(after).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a - b))).Max();
Console.WriteLine($"saved {zip} and reloaded it: {after.Count} rows, largest score difference {largest:G3}");
return largest <= 1e-4f ? 0 : 1;

/// <summary>One image: its path and its class (the name of the folder it is in).</summary>
public sealed class ImageRow
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";

    public static IEnumerable<ImageRow> InFolder(string root) =>
        Directory.GetDirectories(root).Order(StringComparer.Ordinal).SelectMany(dir =>
            Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(file => new ImageRow { ImagePath = file, Label = Path.GetFileName(dir) }));
}
