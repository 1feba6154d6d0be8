using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using ResNet.MLNet;

// Linear probe: frozen 512-d features of ML.NET's ImageNet ResNet18 (ResNet18Weights.MLNetImageNet) + LbfgsMaximumEntropy,
// trained on DATA/train and scored on DATA/test (folders of class folders).
// Usage: LinearProbe DATA [--batch-size B] [--features-cache DIR]
// With --features-cache the features are written there once (binary) and read back on later runs.
if (args.Length == 0 || args[0].StartsWith("--"))
{
    Console.Error.WriteLine("usage: LinearProbe DATA [--batch-size B]   (DATA holds train/ and test/ folders of class folders)");
    return 2;
}
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
int batchSize = int.Parse(Option("--batch-size") ?? "32", CultureInfo.InvariantCulture);
string? featuresCache = Option("--features-cache");
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
    string? file = featuresCache is null ? null : Path.Combine(featuresCache, $"{name}.features.bin");
    if (file is not null && File.Exists(file))
    {
        using var reader = new BinaryReader(File.OpenRead(file));
        var rows = Enumerable.Range(0, reader.ReadInt32()).Select(_ => new Featurized
        {
            Label = reader.ReadString(), Features = Enumerable.Range(0, 512).Select(_ => reader.ReadSingle()).ToArray(),
        }).ToList();
        Console.WriteLine($"read {rows.Count} {name} features from {file}");
        return ml.Data.LoadFromEnumerable(rows);
    }
    var start = clock.Elapsed;
    var featurized = ml.Data.CreateEnumerable<Featurized>(featurizer.Transform(data), reuseRowObject: false).ToList();
    Console.WriteLine(FormattableString.Invariant($"featurized {name} in {(clock.Elapsed - start).TotalSeconds:F0} s"));
    if (file is not null)
    {
        Directory.CreateDirectory(featuresCache!);
        using var writer = new BinaryWriter(File.Create(file));
        writer.Write(featurized.Count);
        foreach (var row in featurized)
        {
            writer.Write(row.Label);
            foreach (var f in row.Features) writer.Write(f);
        }
    }
    return ml.Data.LoadFromEnumerable(featurized);
}
var trainFeatures = Featurize(train, "train");
var testFeatures = Featurize(test, "test");
// Two fixed variants, both reported (neither tuned on the test set): raw features, and features standardised per dimension.
var label = ml.Transforms.Conversion.MapValueToKey("LabelKey", nameof(Row.Label));
foreach (var (name, estimator) in new (string, IEstimator<ITransformer>)[]
{
    ("LbfgsMaximumEntropy (defaults)", label.Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Features"))),
    ("NormalizeMeanVariance + LbfgsMaximumEntropy (defaults)", label.Append(ml.Transforms.NormalizeMeanVariance("Features"))
        .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Features"))),
})
{
    var start = clock.Elapsed;
    var probe = estimator.Fit(trainFeatures);
    var metrics = ml.MulticlassClassification.Evaluate(probe.Transform(testFeatures), "LabelKey");
    Console.WriteLine(FormattableString.Invariant(
        $"{name}: trained in {(clock.Elapsed - start).TotalSeconds:F0} s; linear probe test accuracy {metrics.MicroAccuracy:F4} (macro {metrics.MacroAccuracy:F4})"));
}
Console.WriteLine(FormattableString.Invariant($"wall time {clock.Elapsed.TotalSeconds:F0} s"));
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
