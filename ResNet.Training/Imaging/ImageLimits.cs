using System.Globalization;

namespace ResNet.Training.Imaging;

/// <summary>
/// The checks every image passes before it is decoded, in every front door (command line, data loaders, ML.NET
/// transforms): it must be complete (<see cref="ImageIntegrity"/>), of a format whose size the header gives
/// (<see cref="ImageHeader"/>), and at most <see cref="MaxPixels"/> pixels. A decoder allocates width × height × 4
/// bytes before it reads a single row, so a 200 KB PNG that claims 40000×40000 pixels would take 6.4 GB and more;
/// like Pillow's <c>Image.MAX_IMAGE_PIXELS</c>, the limit turns that into an error that names the file (and that
/// <c>--on-error skip</c> can skip).
/// </summary>
public static class ImageLimits
{
    /// <summary>The default pixel limit, Pillow's: 89,478,485 pixels (about 9459² — 0.36 GB as decoded BGRA).</summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>Environment variable that sets <see cref="MaxPixels"/> for the whole process (a positive integer).</summary>
    public const string MaxPixelsVariable = "RESNET_MAX_IMAGE_PIXELS";

    /// <summary>
    /// The largest width × height decoded, process-wide, when a caller gives no limit of its own; from
    /// <see cref="MaxPixelsVariable"/> when set, else <see cref="DefaultMaxPixels"/>.
    /// </summary>
    /// <example><code>ImageLimits.MaxPixels = 200_000_000; // allow 200-megapixel scans</code></example>
    public static long MaxPixels
    {
        get => maxPixels;
        set => maxPixels = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The pixel limit must be at least 1.");
    }

    private static long maxPixels = FromEnvironment();

    /// <summary>
    /// Throws <see cref="ImageDecodeException"/> naming <paramref name="source"/> when <paramref name="encoded"/> is
    /// truncated, not a JPEG/PNG/BMP/GIF/WebP, or larger than <paramref name="maxPixels"/> (default <see cref="MaxPixels"/>).
    /// </summary>
    public static void Check(ReadOnlySpan<byte> encoded, string source, long? maxPixels = null)
    {
        if (encoded.Length == 0) throw new ImageDecodeException(source, "the file is empty.");
        if (ImageIntegrity.FindTruncation(encoded) is { } damage) throw new ImageDecodeException(source, damage);
        var size = ImageHeader.ReadSize(encoded)
            ?? throw new ImageDecodeException(source, "not a readable image (not a JPEG, PNG, BMP, GIF or WebP, or its header is damaged).");
        long limit = maxPixels ?? MaxPixels;
        if (size.Width * size.Height > limit)
            throw new ImageDecodeException(source, string.Create(CultureInfo.InvariantCulture,
                $"{size.Width}×{size.Height} = {size.Width * size.Height:N0} pixels is over the limit of {limit:N0}; raise it with --max-image-pixels, {MaxPixelsVariable} or ImageLimits.MaxPixels if the image is trusted."));
    }

    private static long FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable(MaxPixelsVariable);
        if (string.IsNullOrWhiteSpace(text)) return DefaultMaxPixels;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value >= 1
            ? value
            : throw new InvalidOperationException($"{MaxPixelsVariable}={text}: expected a positive whole number of pixels.");
    }
}
