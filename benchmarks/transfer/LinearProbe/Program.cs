using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using ResNet.MLNet;

// Linear probe: frozen 512-d features of ML.NET's ImageNet ResNet18 (ResNet18Weights.MLNetImageNet) + LbfgsMaximumEntropy,
// trained on DATA/train and scored on DATA/test (folders of class folders).
// Usage: LinearProbe DATA [--batch-size B]
if (args.Length == 0 || args[0].StartsWith("--"))
{
    Console.Error.WriteLine("usage: LinearProbe DATA [--batch-size B]   (DATA holds train/ and test/ folders of class folders)");
    return 2;
}
int batchSize = args.Length > 2 && args[1] == "--batch-size" ? int.Parse(args[2], CultureInfo.InvariantCulture) : 32;
var clock = Stopwatch.StartNew();
var ml = new MLContext(seed: 1);
IDataView Load(string split) => ml.Data.LoadFromEnumerable(
    Directory.GetDirectories(Path.Combine(args[0], split)).Order(StringComparer.Ordinal)
        .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Select(f => new Row { ImagePath = f, Label = Path.GetFileName(d) }))
        .ToList());
var train = Load("train");
var test = Load("test");
Console.WriteLine($"{args[0]}: {train.GetRowCount() ?? -1} train, {test.GetRowCount() ?? -1} test images; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()}");

// Featurize once into memory (the slow part), then fit the linear model on the cached features.
var featurizer = ml.Transforms.LoadImages("Image", null, nameof(Row.ImagePath))
    .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", ResNet18Weights.MLNetImageNet, batchSize))
    .Fit(train);
IDataView Featurize(IDataView data, string name)
{
    var start = clock.Elapsed;
    var cached = ml.Data.LoadFromEnumerable(ml.Data.CreateEnumerable<Featurized>(featurizer.Transform(data), reuseRowObject: false).ToList());
    Console.WriteLine(FormattableString.Invariant($"featurized {name} in {(clock.Elapsed - start).TotalSeconds:F0} s"));
    return cached;
}
var trainFeatures = Featurize(train, "train");
var testFeatures = Featurize(test, "test");
var start = clock.Elapsed;
var probe = ml.Transforms.Conversion.MapValueToKey("LabelKey", nameof(Row.Label))
    .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Features"))
    .Fit(trainFeatures);
var metrics = ml.MulticlassClassification.Evaluate(probe.Transform(testFeatures), "LabelKey");
Console.WriteLine(FormattableString.Invariant($"LbfgsMaximumEntropy trained in {(clock.Elapsed - start).TotalSeconds:F0} s"));
Console.WriteLine(FormattableString.Invariant($"linear probe test accuracy {metrics.MicroAccuracy:F4} (macro {metrics.MacroAccuracy:F4}); wall time {clock.Elapsed.TotalSeconds:F0} s"));
return 0;

internal sealed class Row
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}

internal sealed class Featurized
{
    public string Label { get; set; } = "";
    [Microsoft.ML.Data.VectorType(512)] public float[] Features { get; set; } = [];
}
