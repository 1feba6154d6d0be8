using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace ResNet.Training.Imaging;

/// <summary>
/// Step one of <see cref="Preprocessing"/>: decodes an image file and resizes it with ML.NET's own
/// <c>LoadImages → ResizeImages(IsoCrop, centre) → ExtractPixels</c>, giving 3×Resize×Resize RGB planes of 0–255
/// floats. The ML.NET transforms of ResNet.MLNet apply the very same estimators to their image column.
/// One instance per thread (it holds an ML.NET prediction engine, which is not thread-safe).
/// </summary>
public sealed class ImageLoader : IDisposable
{
    private sealed class Row { public string Path { get; set; } = ""; }
    private sealed class Pixels { public float[] Planes { get; set; } = []; }

    /// <summary>Column names used inside the pipeline.</summary>
    internal const string ImageColumn = "Image", ResizedColumn = "Resized", PixelsColumn = "Planes";

    private readonly PredictionEngine<Row, Pixels> engine;
    private readonly int resize;

    /// <summary>Creates a loader that resizes to <paramref name="resize"/>×<paramref name="resize"/>.</summary>
    public ImageLoader(int resize)
    {
        var ml = new MLContext();
        var pipeline = ml.Transforms.LoadImages(ImageColumn, imageFolder: null, inputColumnName: nameof(Row.Path))
            .Append(ResizeAndExtract(ml, ImageColumn, PixelsColumn, resize));
        var transformer = pipeline.Fit(ml.Data.LoadFromEnumerable(Array.Empty<Row>()));
        engine = ml.Model.CreatePredictionEngine<Row, Pixels>(transformer);
        this.resize = resize;
    }

    /// <summary>
    /// The ML.NET estimators that resize an image column to <paramref name="resize"/>² (into
    /// <paramref name="resizedColumn"/>) and extract RGB planes (0–255) into <paramref name="outputColumn"/>; shared
    /// with the ML.NET transforms and saved models.
    /// </summary>
    public static IEstimator<ITransformer> ResizeAndExtract(MLContext ml, string imageColumn, string outputColumn, int resize,
        string resizedColumn = ResizedColumn) =>
        ml.Transforms.ResizeImages(resizedColumn, resize, resize, imageColumn,
                ImageResizingEstimator.ResizingKind.IsoCrop, ImageResizingEstimator.Anchor.Center)
            .Append(ml.Transforms.ExtractPixels(outputColumn, resizedColumn,
                colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Rgb,
                orderOfExtraction: ImagePixelExtractingEstimator.ColorsOrder.ARGB,
                interleavePixelColors: false));

    /// <summary>The largest image decoded, in pixels (default <see cref="ImageLimits.MaxPixels"/>).</summary>
    public long? MaxPixels { get; init; }

    /// <summary>Decodes and resizes one file; a missing, empty, truncated, oversized or undecodable file raises <see cref="ImageDecodeException"/>.</summary>
    public float[] Load(string path)
    {
        if (!File.Exists(path)) throw new ImageDecodeException(path, "file not found.");
        ImageLimits.Check(File.ReadAllBytes(path), path, MaxPixels);
        float[] planes;
        try
        {
            planes = engine.Predict(new Row { Path = Path.GetFullPath(path) }).Planes;
        }
        catch (Exception e)
        {
            throw new ImageDecodeException(path, "not a readable image (corrupt, truncated or an unsupported format).", e);
        }
        if (planes.Length != 3 * resize * resize)
            throw new ImageDecodeException(path, $"decoded to {planes.Length} values instead of 3×{resize}×{resize}.");
        return planes;
    }

    /// <inheritdoc/>
    public void Dispose() => engine.Dispose();
}
