using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Tests;

/// <summary>Seeded models with non-trivial BatchNorm statistics, real image batches, and comparisons for the ONNX tests.</summary>
internal static class OnnxTestModels
{
    public static readonly float[] CifarMean = [0.4914f, 0.4822f, 0.4465f];
    public static readonly float[] CifarStd = [0.2470f, 0.2435f, 0.2616f];

    /// <summary>
    /// A seeded random network whose BatchNorms are far from the identity: random γ/β, then running statistics set to
    /// the batch statistics of <paramref name="calibration"/> (momentum 1 for one train-mode pass), so folding them
    /// matters and activations stay in a realistic range.
    /// </summary>
    public static ResNetModel Create(ResNetConfig config, int seed, float[] calibration, int side)
    {
        manual_seed(seed);
        var model = new ResNetModel(config);
        var norms = model.modules().OfType<TrackedBatchNorm2d>().ToList();
        Assert.NotEmpty(norms);
        using (no_grad())
            foreach (var bn in norms)
            {
                bn.weight!.uniform_(0.5, 1.5);
                bn.bias!.normal_(0, 0.2);
                bn.momentum = 1.0;
            }
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            model.train();
            model.forward(tensor(calibration, [calibration.Length / (3 * side * side), 3, side, side]));
        }
        foreach (var bn in norms) bn.momentum = 0.1;
        model.eval();
        return model;
    }

    /// <summary>Every <paramref name="step"/>-th image file under <paramref name="folder"/> (sorted, so classes mix), <paramref name="count"/> of them.</summary>
    public static string[] Images(string folder, int count, int step) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Where((_, i) => i % step == 0).Take(count).ToArray();

    /// <summary>0–255 Resize² planes of each file, concatenated.</summary>
    public static float[] Resized(IEnumerable<string> files, Preprocessing prep)
    {
        using var loader = new ImageLoader(prep.Resize);
        return files.SelectMany(loader.Load).ToArray();
    }

    /// <summary>Normalised Crop² input for concatenated Resize² planes.</summary>
    public static float[] Normalised(float[] resized, Preprocessing prep)
    {
        int n = resized.Length / prep.ResizedLength;
        var result = new float[n * prep.InputLength];
        for (int i = 0; i < n; i++)
            prep.CropAndNormalise(resized.AsSpan(i * prep.ResizedLength, prep.ResizedLength), result.AsSpan(i * prep.InputLength, prep.InputLength));
        return result;
    }

    /// <summary>A card with class names and the given preprocessing.</summary>
    public static ModelCard Card(ResNetModel model, Preprocessing prep) => new()
    {
        Architecture = model.Config,
        ClassNames = Enumerable.Range(0, model.Config.NumClasses).Select(i => $"class-{i}").ToArray(),
        Preprocessing = prep,
    };

    /// <summary>Largest absolute difference; asserts equal lengths.</summary>
    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}
