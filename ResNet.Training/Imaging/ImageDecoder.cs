using Microsoft.ML.Data;

namespace ResNet.Training.Imaging;

/// <summary>Thrown when a file or buffer is not an image we can decode; the message names the source.</summary>
public sealed class ImageDecodeException(string source, string reason, Exception? inner = null)
    : Exception($"{source}: {reason}", inner)
{
    /// <summary>The file name (or description) of what failed to decode.</summary>
    public string ImageSource { get; } = source;
}

/// <summary>
/// Decodes JPEG, PNG, BMP (and whatever else ML.NET's <see cref="MLImage"/> reads) to RGB. The command line,
/// the data loaders and the ML.NET transforms all decode here, so the same file gives the same pixels everywhere.
/// Grayscale becomes three equal channels. Transparency is composited over black, because MLImage (SkiaSharp)
/// decodes with premultiplied alpha; PIL's <c>convert("RGB")</c> differs only for pixels that are not opaque.
/// </summary>
public static class ImageDecoder
{
    /// <summary>File extensions treated as images when scanning folders (compared without case).</summary>
    public static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp" };

    /// <summary>Decodes an image file after the checks of <see cref="ImageLimits.Check"/> (at most <paramref name="maxPixels"/>, default <see cref="ImageLimits.MaxPixels"/>).</summary>
    public static RgbImage FromFile(string path, long? maxPixels = null)
    {
        if (!File.Exists(path)) throw new ImageDecodeException(path, "file not found.");
        return FromBytes(File.ReadAllBytes(path), path, maxPixels);
    }

    /// <summary>Decodes encoded image bytes (the content of a JPEG/PNG/BMP file) after the checks of <see cref="ImageLimits.Check"/>.</summary>
    public static RgbImage FromBytes(ReadOnlyMemory<byte> bytes, string source = "image bytes", long? maxPixels = null)
    {
        ImageLimits.Check(bytes.Span, source, maxPixels);
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return FromStream(stream, source);
    }

    private static RgbImage FromStream(Stream stream, string source)
    {
        MLImage image;
        try
        {
            image = MLImage.CreateFromStream(stream);
        }
        catch (Exception e)
        {
            throw new ImageDecodeException(source, "not a readable image (corrupt, truncated or an unsupported format).", e);
        }
        using (image)
            return FromMLImage(image, source);
    }

    /// <summary>Converts an ML.NET image (BGRA32 or RGBA32) to RGB.</summary>
    public static RgbImage FromMLImage(MLImage image, string source = "image")
    {
        int w = image.Width, h = image.Height;
        if (w < 1 || h < 1) throw new ImageDecodeException(source, $"the image has no pixels ({w}×{h}).");
        var src = image.Pixels;
        int r, b;
        switch (image.PixelFormat)
        {
            case MLPixelFormat.Bgra32: r = 2; b = 0; break;
            case MLPixelFormat.Rgba32: r = 0; b = 2; break;
            default: throw new ImageDecodeException(source, $"unsupported pixel format {image.PixelFormat}.");
        }
        var rgb = new byte[w * h * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = src[i + r];
            rgb[j + 1] = src[i + 1];
            rgb[j + 2] = src[i + b];
        }
        return new RgbImage(w, h, rgb);
    }
}
