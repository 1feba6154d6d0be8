using Microsoft.ML;
using ResNet.MLNet;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>The ML.NET tests share one collection (run one after the other) and this fixture.</summary>
[CollectionDefinition(Name)]
public sealed class MLNetCollection : ICollectionFixture<MLNetFixture>
{
    public const string Name = "ML.NET";
}

/// <summary>
/// A seeded small-stem ResNet18 for CIFAR-10's classes (non-trivial BatchNorm statistics, resize 36 → crop 32), saved
/// as .pt + .json, and lists of CIFAR-10 files.
/// </summary>
public sealed class MLNetFixture : IDisposable
{
    /// <summary>One row of image data as the tests feed it to ML.NET.</summary>
    public sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";
        public float Index { get; set; }
    }

    private readonly ScratchFolders scratch = new();
    public string Dir { get; }
    public string[] ClassNames { get; }
    public Preprocessing Preprocessing { get; } = new() { Resize = 36, Crop = 32, Mean = OnnxTestModels.CifarMean, Std = OnnxTestModels.CifarStd };
    /// <summary>The weights file (.pt with its .json card).</summary>
    public string WeightsPath { get; }
    public ResNet18Weights Weights { get; }
    /// <summary>20 training images per class.</summary>
    public string[] TrainFiles { get; }
    /// <summary>10 test images per class.</summary>
    public string[] TestFiles { get; }

    public MLNetFixture()
    {
        Dir = scratch.New();
        loader = new(BuildLoader);
        ClassNames = Directory.GetDirectories(Path.Combine(TestPaths.Cifar10, "train")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        TrainFiles = PerClass("train", 20);
        TestFiles = PerClass("test", 10);
        var calibrationPrep = Preprocessing with { Resize = 32 };
        var calibration = OnnxTestModels.Normalised(OnnxTestModels.Resized(TrainFiles.Where((_, i) => i % 10 == 0), calibrationPrep), calibrationPrep);
        using var model = OnnxTestModels.Create(ResNetConfig.ResNet18(ClassNames.Length, StemKind.Small), seed: 5, calibration, side: 32);
        WeightsPath = Path.Combine(Dir, "cifar.pt");
        WeightsFile.Save(model, new ModelCard { Architecture = model.Config, ClassNames = ClassNames, Preprocessing = Preprocessing }, WeightsPath);
        Weights = ResNet18Weights.FromFile(WeightsPath);
    }

    private readonly Lazy<string> loader;

    /// <summary>samples/OnnxOnlyLoader, built once (Release) into a temporary folder: its .dll.</summary>
    public string LoaderDll => loader.Value;

    private string BuildLoader()
    {
        string output = Path.Combine(scratch.New(), "loader");
        Processes.Run("dotnet", $"build \"{Path.Combine(TestPaths.RepoRoot, "samples", "OnnxOnlyLoader")}\" -c Release -o \"{output}\" -nologo", TestPaths.RepoRoot);
        return Path.Combine(output, "OnnxOnlyLoader.dll");
    }

    private string[] PerClass(string split, int count) =>
        Directory.GetDirectories(Path.Combine(TestPaths.Cifar10, split)).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Take(count)).ToArray();

    /// <summary>Rows for <paramref name="files"/>: path, class (folder name) and position.</summary>
    public static IDataView Data(MLContext ml, IEnumerable<string> files) =>
        ml.Data.LoadFromEnumerable(files.Select((f, i) => new ImageRow { ImagePath = f, Label = Path.GetFileName(Path.GetDirectoryName(f))!, Index = i }).ToList());

    public void Dispose()
    {
        scratch.Dispose();
    }
}
