namespace ResNet.Training.Imaging;

/// <summary>An 8-bit RGB image, pixels interleaved row by row (height × width × 3).</summary>
public sealed class RgbImage
{
    /// <summary>Wraps <paramref name="pixels"/>, which must hold width × height × 3 bytes.</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"An image needs a positive size, not {width}×{height}.");
        if (pixels.Length != width * height * 3)
            throw new ArgumentException($"A {width}×{height} RGB image has {width * height * 3} bytes, not {pixels.Length}.");
        Width = width; Height = height; Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>RGB bytes, row-major.</summary>
    public byte[] Pixels { get; }

    /// <summary>Writes the pixels as opaque RGBA (alpha 255) into <paramref name="rgba"/>, width × height × 4 bytes.</summary>
    public void CopyToRgba(Span<byte> rgba)
    {
        if (rgba.Length < Width * Height * 4)
            throw new ArgumentException($"A {Width}×{Height} RGBA image needs {Width * Height * 4} bytes, not {rgba.Length}.");
        for (int i = 0, j = 0; i < Pixels.Length; i += 3, j += 4)
        {
            rgba[j] = Pixels[i]; rgba[j + 1] = Pixels[i + 1]; rgba[j + 2] = Pixels[i + 2]; rgba[j + 3] = 255;
        }
    }
}
