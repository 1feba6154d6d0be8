using ResNet.Training.Imaging;
using ResNet.Training.Model;

namespace ResNet.Training.Data;

/// <summary>
/// The datasets named by a <c>--data</c> value: <c>fashion-mnist</c> (Debian's full set), <c>fashion-mnist:PATH</c>
/// (IDX files in PATH), or a folder of class folders, optionally split into <c>train/</c>, <c>val/</c> (or
/// <c>valid/</c>, <c>validation/</c>) and <c>test/</c>. Without a validation folder, a seeded, stratified fraction of
/// the training data is held out for validation.
/// </summary>
public sealed class DataSource : IDisposable
{
    /// <summary>Prefix of Fashion-MNIST specifications.</summary>
    public const string FashionMnistPrefix = "fashion-mnist";

    private readonly List<IDisposable> owned = [];

    /// <summary>Training samples (with augmentation).</summary>
    public required IDataset Train { get; init; }
    /// <summary>Validation samples, when any.</summary>
    public IDataset? Validation { get; init; }
    /// <summary>Test samples, when the data has a test split.</summary>
    public IDataset? Test { get; init; }
    /// <summary>A short name for run folders ("fashion-mnist", or the folder name).</summary>
    public required string Name { get; init; }
    /// <summary>Everything skipped while scanning and reading, across splits.</summary>
    public required SkippedFiles Skipped { get; init; }

    /// <summary>The network input side used when none is given: 32 for Fashion-MNIST and the small stem, 224 otherwise.</summary>
    public static int DefaultImageSize(StemKind stem, bool fashionMnist) => fashionMnist || stem == StemKind.Small ? 32 : 224;

    /// <summary>The evaluation preprocessing of an image folder at input side <paramref name="size"/>: resize to size·8/7 and centre-crop for large inputs (256→224), resize only for small ones.</summary>
    public static Preprocessing FolderPreprocessing(int size) =>
        new Preprocessing { Crop = size, Resize = size >= 96 ? (int)Math.Round(size * 8 / 7.0) : size }.Validated();

    /// <summary>True when <paramref name="spec"/> names Fashion-MNIST.</summary>
    public static bool IsFashionMnist(string spec) =>
        spec.Equals(FashionMnistPrefix, StringComparison.OrdinalIgnoreCase) || spec.StartsWith(FashionMnistPrefix + ":", StringComparison.OrdinalIgnoreCase);

    /// <summary>Opens the data for training.</summary>
    /// <param name="spec">The <c>--data</c> value.</param>
    /// <param name="imageSize">Network input side.</param>
    /// <param name="validationFraction">Held-out fraction when there is no validation folder (0 = no validation).</param>
    /// <param name="seed">Seed of the split.</param>
    /// <param name="augmentation">Training augmentation; the default suits the input size.</param>
    /// <param name="preprocessing">An image folder's preprocessing when the starting weights dictate it (a mean image fixes the input size); else <see cref="FolderPreprocessing"/>.</param>
    public static DataSource ForTraining(string spec, int imageSize, double validationFraction, int seed, Augmentation? augmentation = null, Preprocessing? preprocessing = null)
    {
        if (IsFashionMnist(spec))
        {
            string folder = FashionMnistFolder(spec);
            var all = FashionMnist.Load(folder, "train", imageSize, augmentation);
            var test = FashionMnist.Load(folder, "t10k", imageSize);
            var (train, val) = SplitOff(all, validationFraction, seed);
            return new DataSource { Train = train, Validation = val, Test = test, Name = FashionMnistPrefix, Skipped = all.Skipped };
        }
        if (!Directory.Exists(spec))
            throw new DirectoryNotFoundException($"{spec}: no such folder (give a folder of class folders, or fashion-mnist[:PATH]).");
        var skipped = new SkippedFiles();
        preprocessing ??= FolderPreprocessing(imageSize);
        var owned = new List<IDisposable>();
        try
        {
            var trainSet = ImageFolderDataset.Open(Sub(spec, "train") ?? spec, preprocessing, augmentation: augmentation, skipped: skipped);
            owned.Add(trainSet);
            string? valRoot = Sub(spec, "val") ?? Sub(spec, "valid") ?? Sub(spec, "validation");
            string? testRoot = Sub(spec, "test");
            IDataset train = trainSet;
            IDataset? validation = null;
            if (valRoot is not null)
            {
                var v = ImageFolderDataset.Open(valRoot, preprocessing, trainSet.ClassNames, skipped: skipped);
                owned.Add(v);
                validation = v;
            }
            else
            {
                (train, validation) = SplitOff(trainSet, validationFraction, seed);
            }
            ImageFolderDataset? test = null;
            if (testRoot is not null) owned.Add(test = ImageFolderDataset.Open(testRoot, preprocessing, trainSet.ClassNames, skipped: skipped));
            var source = new DataSource { Train = train, Validation = validation, Test = test, Name = FolderName(spec), Skipped = skipped };
            source.owned.AddRange(owned);
            return source;
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the evaluation split of <paramref name="spec"/> for a model with <paramref name="preprocessing"/> and
    /// <paramref name="classNames"/>: Fashion-MNIST's test set, or a folder's <c>test/</c>, else <c>val/</c>, else the folder itself.
    /// </summary>
    public static DataSource ForEvaluation(string spec, Preprocessing preprocessing, IReadOnlyList<string> classNames)
    {
        if (IsFashionMnist(spec))
        {
            if (preprocessing.Resize != preprocessing.Crop)
                throw new ArgumentException($"The model expects {preprocessing.Resize}² resized, {preprocessing.Crop}² cropped inputs; Fashion-MNIST is evaluated at the model's input size without a crop, so use a model trained on it.");
            if (!FashionMnist.ClassNames.SequenceEqual(classNames) && !classNames.SequenceEqual(Weights.ModelCard.NumberedClasses(10)))
                throw new InvalidDataException($"The model's classes ({string.Join(", ", classNames)}) are not Fashion-MNIST's.");
            var test = FashionMnist.Load(FashionMnistFolder(spec), "t10k", preprocessing.Crop, preprocessing: preprocessing);
            return new DataSource { Train = test, Test = test, Name = FashionMnistPrefix, Skipped = test.Skipped };
        }
        if (!Directory.Exists(spec)) throw new DirectoryNotFoundException($"{spec}: no such folder.");
        string root = Sub(spec, "test") ?? Sub(spec, "val") ?? Sub(spec, "valid") ?? Sub(spec, "validation") ?? spec;
        var skipped = new SkippedFiles();
        var set = ImageFolderDataset.Open(root, preprocessing, classNames, skipped: skipped);
        var result = new DataSource { Train = set, Test = set, Name = FolderName(root), Skipped = skipped };
        result.owned.Add(set);
        return result;
    }

    private static (IDataset Train, IDataset? Validation) SplitOff(IDataset all, double fraction, int seed)
    {
        if (fraction <= 0) return (all, null);
        var (kept, held) = SubsetDataset.Split(all, fraction, seed);
        return (kept, held);
    }

    private static string FashionMnistFolder(string spec) =>
        spec.Length > FashionMnistPrefix.Length + 1 ? spec[(FashionMnistPrefix.Length + 1)..] : FashionMnist.SystemPath;

    private static string? Sub(string root, string name) =>
        Directory.GetDirectories(root).FirstOrDefault(d => Path.GetFileName(d).Equals(name, StringComparison.OrdinalIgnoreCase));

    private static string FolderName(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var d in owned) d.Dispose();
        owned.Clear();
    }
}
