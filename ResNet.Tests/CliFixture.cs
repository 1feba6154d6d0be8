using ResNet.Training.Engines;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.Tests;

/// <summary>
/// What the command-line tests share: a small CIFAR-sized model saved with its card, a few real CIFAR-10 images,
/// and the test images of python/make_images.py (every format flavour, plus unreadable files).
/// </summary>
public sealed class CliFixture : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    public static readonly string[] Classes =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    public CliFixture()
    {
        Root = scratch.New();
        Weights = Path.Combine(Root, "model", "cifar.pt");
        torch.random.manual_seed(5);
        using (var model = ResNetModel.ResNet18(10, StemKind.Small))
            WeightsFile.Save(model, new ModelCard
            {
                ClassNames = Classes,
                Preprocessing = new Preprocessing { Resize = 32, Crop = 32, Mean = [0.49f, 0.48f, 0.45f], Std = [0.25f, 0.24f, 0.26f] },
            }, Weights);
        Cifar = Path.Combine(Root, "cifar");
        foreach (string cls in new[] { "cat", "ship" })
        {
            Directory.CreateDirectory(Path.Combine(Cifar, cls));
            foreach (string file in Directory.GetFiles(Path.Combine(TestPaths.Cifar10, "test", cls)).Order(StringComparer.Ordinal).Take(3))
                File.Copy(file, Path.Combine(Cifar, cls, Path.GetFileName(file)));
        }
        Images = Path.Combine(Root, "images");
        Directory.CreateDirectory(Images);
        PythonReference.Run("make_images.py", Images);
    }

    public string Root { get; }
    public string Weights { get; }
    /// <summary>cifar/{cat,ship}/ with three test images each.</summary>
    public string Cifar { get; }
    /// <summary>make_images.py's folders: good/, bad/, ref/, other/.</summary>
    public string Images { get; }

    /// <summary>Features and logits the engine gives for <paramref name="files"/>, one image at a time, with <paramref name="card"/>'s preprocessing.</summary>
    public (float[][] Features, float[][] Logits) Expected(IReadOnlyList<string> files, Func<ModelCard, ModelCard>? adjust = null)
    {
        var (model, card) = WeightsFile.Load(Weights);
        card = adjust?.Invoke(card) ?? card;
        using var engine = new TorchSharpEngine(model, card);
        using var loader = new ImageLoader(card.Preprocessing.Resize);
        var features = new float[files.Count][];
        var logits = new float[files.Count][];
        for (int i = 0; i < files.Count; i++)
        {
            var output = engine.Run(card.Preprocessing.CropAndNormalise(loader.Load(files[i])), 1);
            features[i] = output.FeaturesOf(0).ToArray();
            logits[i] = output.LogitsOf(0).ToArray();
        }
        return (features, logits);
    }
}
