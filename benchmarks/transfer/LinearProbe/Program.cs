using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using ResNet.MLNet;
using ResNet.Training.Onnx;
using SkiaSharp;

// Linear probe: frozen 512-d features of ML.NET's ImageNet ResNet18 (ResNet18Weights.MLNetImageNet) + LbfgsMaximumEntropy,
// trained on DATA/train and scored on DATA/test (folders of class folders).
// Usage: LinearProbe DATA [--batch-size B] [--features-cache DIR] [--precision float32|int8]
// Every image is featurized twice, as is and mirrored left-right (the flip augmentation, and test-time averaging of the
// two views). The regularisation of each variant is chosen on held-out training images (every tenth of each class);
// the test images are scored once per variant, after every choice is made.
// With --features-cache the features are written there once (binary) and read back on later runs.
// --precision int8: the featurizer's int8 form (Precision.Int8, calibrated while fitting on every 39th training image, all
// classes among them); it also scores the test images with a probe trained on float32 features, from both kinds of features, and
// prints how often the two predictions agree (the float32 features are read from the cache or computed).
if (args.Length == 0 || args[0].StartsWith("--"))
{
    Console.Error.WriteLine("usage: LinearProbe DATA [--batch-size B] [--features-cache DIR] [--precision float32|int8]   (DATA holds train/ and test/ folders of class folders)");
    return 2;
}
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
int batchSize = int.Parse(Option("--batch-size") ?? "32", CultureInfo.InvariantCulture);
var precision = Enum.Parse<Precision>(Option("--precision") ?? nameof(Precision.Float32), ignoreCase: true);
string featuresCache = Option("--features-cache") ?? Path.Combine(Path.GetTempPath(), $"linear-probe-{Environment.ProcessId}");
var clock = Stopwatch.StartNew();
var ml = new MLContext(seed: 1);
List<Row> Rows(string split) => Directory.GetDirectories(Path.Combine(args[0], split)).Order(StringComparer.Ordinal)
    .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Select((f, i) => new Row { ImagePath = f, Label = Path.GetFileName(d), Index = i }))
    .ToList();
var trainRows = Rows("train");
var testRows = Rows("test");
Console.WriteLine($"{args[0]}: {trainRows.Count} train, {testRows.Count} test images; {precision} features; {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()}");

ITransformer Featurizer(Precision p) => ml.Transforms.LoadImages("Image", null, nameof(Row.ImagePath))
    .Append(ml.Transforms.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options
    {
        OutputColumnName = "Features", InputColumnName = "Image", Weights = ResNet18Weights.MLNetImageNet, BatchSize = batchSize, Precision = p,
    }))
    // Only int8 reads rows in Fit (its calibration, up to the first 128): every 39th training image, all classes among them.
    .Fit(ml.Data.LoadFromEnumerable(trainRows.Where((_, i) => i % 39 == 0).ToList()));
var featurizers = new Dictionary<Precision, ITransformer>();

// Featurizes the rows (or reads them back from the cache folder), as is or mirrored.
float[][] Features(List<Row> rows, string split, bool mirrored, Precision precision)
{
    string file = Path.Combine(featuresCache, $"{split}{(mirrored ? ".mirrored" : "")}{(precision == Precision.Int8 ? ".int8" : "")}.features.bin");
    if (File.Exists(file))
    {
        using var reader = new BinaryReader(File.OpenRead(file));
        if (reader.ReadString() != CacheFormat) throw new InvalidDataException($"{file} was written by another version of LinearProbe: delete the cache folder.");
        int count = reader.ReadInt32();
        if (count != rows.Count) throw new InvalidDataException($"{file} holds {count} images, {split} has {rows.Count}: delete the cache folder.");
        Console.WriteLine($"read {count} {split}{(mirrored ? " mirrored" : "")} features from {file}");
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 512).Select(_ => reader.ReadSingle()).ToArray()).ToArray();
    }
    var start = clock.Elapsed;
    var input = mirrored ? rows.Select(r => r with { ImagePath = MirroredCopy(r.ImagePath, Path.Combine(featuresCache, "mirrored", split)) }).ToList() : rows;
    if (!featurizers.TryGetValue(precision, out var featurizer)) featurizers[precision] = featurizer = Featurizer(precision);
    var features = ml.Data.CreateEnumerable<Featurized>(featurizer.Transform(ml.Data.LoadFromEnumerable(input)), reuseRowObject: false)
        .Select(f => f.Features).ToArray();
    Console.WriteLine(FormattableString.Invariant($"featurized {features.Length} {split}{(mirrored ? " mirrored" : "")} images ({precision}) in {(clock.Elapsed - start).TotalSeconds:F0} s"));
    Directory.CreateDirectory(featuresCache);
    using (var writer = new BinaryWriter(File.Create(file + ".tmp")))
    {
        writer.Write(CacheFormat);
        writer.Write(features.Length);
        foreach (var f in features.SelectMany(v => v)) writer.Write(f);
    }
    File.Move(file + ".tmp", file, overwrite: true);
    return features;
}

var train = Features(trainRows, "train", mirrored: false, precision);
var trainMirrored = Features(trainRows, "train", mirrored: true, precision);
var test = Features(testRows, "test", mirrored: false, precision);
var testMirrored = Features(testRows, "test", mirrored: true, precision);
static float[] Mean(float[] a, float[] b) => a.Zip(b, (x, y) => (x + y) / 2).ToArray();

// Variants fixed in advance: (name, training rows from an image's two views, the test features of an image's two views).
var variants = new (string Name, Func<float[], float[], float[][]> TrainViews, Func<float[], float[], float[]> TestView)[]
{
    ("one view (as is)", (own, _) => [own], (own, _) => own),
    ("flip: both views as training rows, test on the mean of both", (own, mirror) => [own, mirror], Mean),
    ("flip: mean of both views, in training and test", (own, mirror) => [Mean(own, mirror)], Mean),
};
(float L1, float L2)[] grid = [(0f, 0.1f), (0f, 1f), (0f, 10f), (1f, 0.1f), (1f, 1f), (1f, 10f)];
bool Held(Row row) => row.Index % 10 == 9; // every tenth image of each class: the held-out training images

IDataView View(IEnumerable<(string Label, float[] Features)> rows) =>
    ml.Data.LoadFromEnumerable(rows.Select(r => new Featurized { Label = r.Label, Features = r.Features }).ToList());
IEnumerable<(string, float[])> TrainingRows(float[][] own, float[][] mirror, Func<float[], float[], float[][]> views, Func<Row, bool> keep) =>
    trainRows.Select((row, i) => (row, i)).Where(p => keep(p.row)).SelectMany(p => views(own[p.i], mirror[p.i]).Select(f => (p.row.Label, f)));
IEnumerable<(string, float[])> ScoredRows(List<Row> rows, float[][] own, float[][] mirror, Func<float[], float[], float[]> view, Func<Row, bool> keep) =>
    rows.Select((row, i) => (row, i)).Where(p => keep(p.row)).Select(p => (p.row.Label, view(own[p.i], mirror[p.i])));
IEstimator<ITransformer> Probe((float L1, float L2) r) => ml.Transforms.Conversion.MapValueToKey("LabelKey", nameof(Featurized.Label))
    .Append(ml.Transforms.NormalizeMeanVariance(nameof(Featurized.Features)))
    .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(new LbfgsMaximumEntropyMulticlassTrainer.Options
    {
        LabelColumnName = "LabelKey", FeatureColumnName = nameof(Featurized.Features), L1Regularization = r.L1, L2Regularization = r.L2,
    }));
double Accuracy(ITransformer model, IDataView data) => ml.MulticlassClassification.Evaluate(model.Transform(data), "LabelKey").MicroAccuracy;

var results = new List<(string Name, (float L1, float L2) Reg, double Held, double Test)>();
foreach (var (name, trainViews, testView) in variants)
{
    var start = clock.Elapsed;
    var fitPart = View(TrainingRows(train, trainMirrored, trainViews, r => !Held(r)));
    var heldPart = View(ScoredRows(trainRows, train, trainMirrored, testView, Held));
    var scores = grid.Select(r => (Reg: r, Held: Accuracy(Probe(r).Fit(fitPart), heldPart))).ToList();
    var best = scores.MaxBy(s => s.Held);
    var model = Probe(best.Reg).Fit(View(TrainingRows(train, trainMirrored, trainViews, _ => true)));
    double testAccuracy = Accuracy(model, View(ScoredRows(testRows, test, testMirrored, testView, _ => true)));
    Console.WriteLine(FormattableString.Invariant(
        $"{name}: held-out accuracy by (L1, L2) {string.Join(", ", scores.Select(s => $"({s.Reg.L1:G3}, {s.Reg.L2:G3}) {s.Held:F4}"))}; chosen ({best.Reg.L1:G3}, {best.Reg.L2:G3}); refit on all training images; linear probe test accuracy {testAccuracy:F4} ({(clock.Elapsed - start).TotalSeconds:F0} s)"));
    results.Add((name, best.Reg, best.Held, testAccuracy));
}
var chosen = results.MaxBy(r => r.Held);
Console.WriteLine(FormattableString.Invariant(
    $"chosen on held-out training images: {chosen.Name}, (L1, L2) = ({chosen.Reg.L1:G3}, {chosen.Reg.L2:G3}): linear probe test accuracy {chosen.Test:F4}"));
if (precision == Precision.Int8)
{
    // A classifier trained on float32 features (the variant and regularisation chosen above) scores the test images
    // from their float32 and from their int8 features: how often the two predictions agree.
    var (name, trainViews, testView) = variants.Single(v => v.Name == chosen.Name);
    var f32Train = Features(trainRows, "train", mirrored: false, Precision.Float32);
    var f32TrainMirrored = Features(trainRows, "train", mirrored: true, Precision.Float32);
    var classifier = Probe(chosen.Reg).Fit(View(TrainingRows(f32Train, f32TrainMirrored, trainViews, _ => true)));
    uint[] Predicted(float[][] own, float[][] mirror) =>
        classifier.Transform(View(ScoredRows(testRows, own, mirror, testView, _ => true))).GetColumn<uint>("PredictedLabel").ToArray();
    var f32Test = Features(testRows, "test", mirrored: false, Precision.Float32);
    // How close the int8 features are, on training images (where a calibration may be chosen) and on test images.
    static double MeanCosine(float[][] a, float[][] b) => a.Zip(b, (x, y) =>
        x.Zip(y, (p, q) => (double)p * q).Sum() / Math.Sqrt(x.Sum(p => (double)p * p) * y.Sum(q => (double)q * q))).Average();
    Console.WriteLine(FormattableString.Invariant(
        $"mean cosine similarity of int8 to float32 features: training images {MeanCosine(train, f32Train):F5}, test images {MeanCosine(test, f32Test):F5}"));
    var fromFloat = Predicted(f32Test, Features(testRows, "test", mirrored: true, Precision.Float32));
    var fromInt8 = Predicted(test, testMirrored);
    int agree = fromFloat.Zip(fromInt8, (a, b) => a == b ? 1 : 0).Sum();
    Console.WriteLine(FormattableString.Invariant(
        $"top-1 agreement of the float32-trained probe ({name}), int8 against float32 test features: {agree}/{fromFloat.Length} = {(double)agree / fromFloat.Length:F4}"));
}
Console.WriteLine(FormattableString.Invariant($"wall time {clock.Elapsed.TotalSeconds:F0} s"));
return 0;

// A left-right mirrored copy of an image, as PNG, in FOLDER/CLASS/NAME.png (made once).
static string MirroredCopy(string path, string folder)
{
    string target = Path.Combine(folder, Path.GetFileName(Path.GetDirectoryName(path)!), Path.GetFileNameWithoutExtension(path) + ".png");
    if (File.Exists(target)) return target;
    using var image = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not an image SkiaSharp can decode.");
    using var mirrored = new SKBitmap(image.Info);
    using (var canvas = new SKCanvas(mirrored))
    {
        canvas.Scale(-1, 1, image.Width / 2f, 0);
        canvas.DrawBitmap(image, 0, 0);
    }
    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
    using var data = mirrored.Encode(SKEncodedImageFormat.Png, 100);
    using (var file = File.Create(target)) data.SaveTo(file);
    return target;
}

internal sealed record Row
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
    public int Index { get; set; }
}

internal sealed class Featurized
{
    public string Label { get; set; } = "";
    [Microsoft.ML.Data.VectorType(512)] public float[] Features { get; set; } = [];
}

internal partial class Program
{
    /// <summary>The first thing in a features file: a file of another layout is refused, not misread.</summary>
    private const string CacheFormat = "LinearProbe features: int32 count, then count × 512 float32";
}
