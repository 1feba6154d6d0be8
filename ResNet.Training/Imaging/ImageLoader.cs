using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace ResNet.Training.Imaging;

/// <summary>
/// Step one of <see cref="Preprocessing"/>, and the one resize of the whole library: an image (a file, or pixels in
/// memory such as Fashion-MNIST's) goes through ML.NET's own <c>ResizeImages(IsoCrop, centre) → ExtractPixels</c>,
/// giving 3×Resize×Resize RGB planes of 0–255 floats. The ML.NET transforms of ResNet.MLNet apply the very same
/// estimators (<see cref="ResizeAndExtract"/>) to their image column, and a saved ML.NET model can only hold those
/// stock transforms, so training, the command line, the ML.NET transforms and a reloaded model all resample alike.
/// One instance per thread (it holds an ML.NET prediction engine, which is not thread-safe).
/// </summary>
public sealed class ImageLoader : IDisposable
{
    // Workaround: ML.NET 5 maps an MLImage member to a column only through a sized ImageType attribute (the
    // parameterless one fails, a schema definition with the any-size type finds no getter). The declared size is not
    // read: ResizeImages takes each image's own size, exactly as it does for LoadImages' any-size column.
    private sealed class Row { [ImageType(1, 1)] public MLImage? Image { get; set; } }
    private sealed class Pixels { public float[] Planes { get; set; } = []; }

    /// <summary>Column names used inside the pipeline.</summary>
    internal const string ResizedColumn = "Resized", PixelsColumn = "Planes";

    private readonly PredictionEngine<Row, Pixels> engine;
    private readonly int resize;

    /// <summary>Creates a loader that resizes to <paramref name="resize"/>×<paramref name="resize"/>.</summary>
    public ImageLoader(int resize)
    {
        var ml = new MLContext();
        var transformer = ResizeAndExtract(ml, nameof(Row.Image), PixelsColumn, resize)
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<Row>()));
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
        var bytes = File.ReadAllBytes(path);
        ImageLimits.Check(bytes, path, MaxPixels);
        MLImage image;
        try
        {
            // What LoadImages does with the path: SkiaSharp decodes the same bytes the same way.
            image = MLImage.CreateFromStream(new MemoryStream(bytes, writable: false));
        }
        catch (Exception e)
        {
            throw new ImageDecodeException(path, "not a readable image (corrupt, truncated or an unsupported format).", e);
        }
        using (image)
            return Resize(image, path);
    }

    /// <summary>Resizes an image held in memory (e.g. a decoded dataset's) exactly as <see cref="Load"/> resizes a file with the same pixels.</summary>
    public float[] Resize(RgbImage image)
    {
        var rgba = new byte[image.Width * image.Height * 4];
        image.CopyToRgba(rgba);
        using var ml = MLImage.CreateFromPixels(image.Width, image.Height, MLPixelFormat.Rgba32, rgba);
        return Resize(ml, "image");
    }

    private float[] Resize(MLImage image, string source)
    {
        float[] planes;
        try
        {
            planes = engine.Predict(new Row { Image = image }).Planes;
        }
        catch (Exception e)
        {
            throw new ImageDecodeException(source, "not a readable image (corrupt, truncated or an unsupported format).", e);
        }
        if (planes.Length != 3 * resize * resize)
            throw new ImageDecodeException(source, $"decoded to {planes.Length} values instead of 3×{resize}×{resize}.");
        return planes;
    }

    /// <inheritdoc/>
    public void Dispose() => engine.Dispose();
}
