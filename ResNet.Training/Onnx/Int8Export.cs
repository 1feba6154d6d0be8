using Google.Protobuf;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Training;
using ResNet.Training.Weights;

namespace ResNet.Training.Onnx;

/// <summary>Exports a model as an int8 QDQ ONNX file: <see cref="OnnxExporter"/>, then <see cref="Int8Quantizer"/> calibrated on image files.</summary>
public static class Int8Export
{
    /// <summary>Calibration images used when the caller does not say: enough for stable activation ranges, a few seconds of float inference.</summary>
    public const int DefaultCalibrationCount = 128;

    /// <summary>
    /// Exports <paramref name="model"/> to <paramref name="path"/> (atomically) as int8, calibrated on up to
    /// <paramref name="count"/> of <paramref name="calibrationFiles"/> taken evenly across the list (so sorted class
    /// folders all contribute), decoded and preprocessed as the model's card says.
    /// </summary>
    public static OnnxModelInfo Export(ResNetModel model, ModelCard card, string path, OnnxExportOptions options,
        IReadOnlyList<string> calibrationFiles, int count = DefaultCalibrationCount, Int8WeightRange weights = Int8WeightRange.Auto)
    {
        var proto = OnnxExporter.Build(model, card, options);
        var quantized = Int8Quantizer.Quantize(proto, Batches(Spread(calibrationFiles, count), card.Preprocessing.Validated(), options.WithPreprocessing), weights);
        AtomicFile.Write(path, quantized.WriteTo);
        return OnnxModelInfo.FromProto(quantized, path);
    }

    /// <summary><paramref name="count"/> files spread evenly over <paramref name="files"/> (all of them when there are fewer).</summary>
    public static IReadOnlyList<string> Spread(IReadOnlyList<string> files, int count)
    {
        if (count < 1) throw new ArgumentException($"The calibration count must be at least 1, not {count}.");
        if (files.Count == 0) throw new ArgumentException("No calibration images: give a folder of images like those the model will see (64–256 are enough).");
        if (files.Count <= count) return files;
        return Enumerable.Range(0, count).Select(i => files[(int)((long)i * files.Count / count)]).ToList();
    }

    /// <summary>Model inputs for <paramref name="files"/>, 8 images a batch: 0–255 Resize² planes, or normalised Crop² without baked-in preprocessing.</summary>
    public static IEnumerable<float[]> Batches(IEnumerable<string> files, Preprocessing prep, bool withPreprocessing)
    {
        using var loader = new ImageLoader(prep.Resize);
        foreach (var chunk in files.Chunk(8))
            yield return chunk.SelectMany(file => withPreprocessing ? loader.Load(file) : prep.CropAndNormalise(loader.Load(file))).ToArray();
    }
}
