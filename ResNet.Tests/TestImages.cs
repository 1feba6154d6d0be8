using SkiaSharp;

namespace ResNet.Tests;

/// <summary>Writes small image files for the data tests.</summary>
internal static class TestImages
{
    /// <summary>Writes a width×height image whose pixels come from <paramref name="color"/>(x, y).</summary>
    public static void Write(string path, int width, int height, Func<int, int, SKColor> color,
        SKEncodedImageFormat format = SKEncodedImageFormat.Png, SKColorType colorType = SKColorType.Rgba8888, SKAlphaType alpha = SKAlphaType.Opaque)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, colorType, alpha));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                bitmap.SetPixel(x, y, color(x, y));
        using var data = bitmap.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>A random RGB image (seeded), PNG.</summary>
    public static void Noise(string path, int size, int seed)
    {
        var rng = new Random(seed);
        Write(path, size, size, (_, _) => new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
    }
}
