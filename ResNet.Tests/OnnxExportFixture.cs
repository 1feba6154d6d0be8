using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Onnx;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>
/// Built once for <see cref="OnnxExportTests"/>: a 224² ImageNet-stem model with 32 Imagenette images and a 32²
/// small-stem model with 32 CIFAR-10 images (both seeded, with non-trivial BatchNorm statistics), and their exports.
/// </summary>
public sealed class OnnxExportFixture : IDisposable
{
    private readonly ScratchFolders scratch = new();
    public string Dir { get; }

    public ResNetModel ImageNetModel { get; }
    public ModelCard ImageNetCard { get; }
    /// <summary>32 Imagenette images as 0–255 planes of 256².</summary>
    public float[] ImagenetteResized { get; }
    /// <summary>The same 32 images, cropped to 224² and normalised.</summary>
    public float[] ImagenetteInput { get; }
    /// <summary>Export of <see cref="ImageNetModel"/>, opset 17.</summary>
    public string ImageNetOnnx { get; }
    /// <summary>Export of <see cref="ImageNetModel"/> with preprocessing and probabilities.</summary>
    public string ImageNetPreprocessingOnnx { get; }

    public ResNetModel SmallModel { get; }
    public ModelCard SmallCard { get; }
    /// <summary>32 CIFAR-10 test images, normalised 32².</summary>
    public float[] CifarInput { get; }
    /// <summary>Export of <see cref="SmallModel"/>, opset 17.</summary>
    public string SmallOnnx { get; }

    public OnnxExportFixture()
    {
        Dir = scratch.New();
        var imagenet = Preprocessing.ImageNet;
        ImagenetteResized = OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Imagenette, "val"), 32, 15), imagenet);
        ImagenetteInput = OnnxTestModels.Normalised(ImagenetteResized, imagenet);
        var calibration = OnnxTestModels.Normalised(OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Imagenette, "train"), 8, 61), imagenet), imagenet);
        ImageNetModel = OnnxTestModels.Create(ResNetConfig.ResNet18(10), seed: 1, calibration, 224);
        ImageNetCard = OnnxTestModels.Card(ImageNetModel, imagenet) with { WeightsSha256 = new string('a', 64) };
        ImageNetOnnx = Path.Combine(Dir, "imagenet.onnx");
        OnnxExporter.Export(ImageNetModel, ImageNetCard, ImageNetOnnx, new OnnxExportOptions());
        ImageNetPreprocessingOnnx = Path.Combine(Dir, "imagenet-preprocessing.onnx");
        OnnxExporter.Export(ImageNetModel, ImageNetCard, ImageNetPreprocessingOnnx, new OnnxExportOptions { WithPreprocessing = true, Probabilities = true });

        var cifar = new Preprocessing { Resize = 32, Crop = 32, Mean = OnnxTestModels.CifarMean, Std = OnnxTestModels.CifarStd };
        CifarInput = OnnxTestModels.Normalised(OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Cifar10, "test"), 32, 31), cifar), cifar);
        var cifarCalibration = OnnxTestModels.Normalised(OnnxTestModels.Resized(OnnxTestModels.Images(Path.Combine(TestPaths.Cifar10, "train"), 64, 71), cifar), cifar);
        SmallModel = OnnxTestModels.Create(ResNetConfig.ResNet18(10, StemKind.Small), seed: 2, cifarCalibration, 32);
        SmallCard = OnnxTestModels.Card(SmallModel, cifar);
        SmallOnnx = Path.Combine(Dir, "small.onnx");
        OnnxExporter.Export(SmallModel, SmallCard, SmallOnnx, new OnnxExportOptions());
    }

    public void Dispose()
    {
        ImageNetModel.Dispose();
        SmallModel.Dispose();
        scratch.Dispose();
    }
}
