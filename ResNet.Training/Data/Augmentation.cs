using ResNet.Training.Imaging;
using SkiaSharp;

namespace ResNet.Training.Data;

/// <summary>How training images are cropped.</summary>
public enum CropKind
{
    /// <summary>No random crop: the evaluation crop.</summary>
    None,
    /// <summary>Zero-pad by <see cref="Augmentation.Padding"/> pixels, then a random crop of the original size (CIFAR style).</summary>
    PadCrop,
    /// <summary>torchvision's RandomResizedCrop: a random area (<see cref="Augmentation.MinScale"/>–1) and aspect ratio (3/4–4/3), resized to the input size.</summary>
    RandomResizedCrop,
}

/// <summary>
/// Training augmentation: a random crop and a horizontal flip, drawn from the <see cref="Random"/> the loader gives
/// each (seed, epoch, sample), then the <see cref="Preprocessing"/> normalisation. Evaluation never augments.
/// </summary>
public sealed record Augmentation
{
    /// <summary>The random crop.</summary>
    public CropKind Crop { get; init; } = CropKind.PadCrop;
    /// <summary>Zero padding on every side for <see cref="CropKind.PadCrop"/>.</summary>
    public int Padding { get; init; } = 4;
    /// <summary>Smallest fraction of the image area that <see cref="CropKind.RandomResizedCrop"/> keeps.</summary>
    public double MinScale { get; init; } = 0.08;
    /// <summary>Mirror left-right with probability 1/2.</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>No augmentation at all.</summary>
    public static Augmentation None { get; } = new() { Crop = CropKind.None, HorizontalFlip = false };

    /// <summary>The usual choice for an input side: random-resized-crop for ImageNet-sized inputs, pad+crop for small ones.</summary>
    public static Augmentation For(int inputSize) =>
        inputSize >= 96 ? new() { Crop = CropKind.RandomResizedCrop } : new() { Crop = CropKind.PadCrop, Padding = inputSize / 8 };

    /// <summary>
    /// Augments <paramref name="channels"/>×S×S planes of 0–255 values (1 channel is replicated to RGB) into
    /// 3×S×S planes in <paramref name="dest"/>, not yet normalised. Only pad+crop and flip apply here: the image
    /// already has the network's size (it went through the evaluation resize and crop).
    /// </summary>
    public void ApplyToPlanes(ReadOnlySpan<float> src, int channels, int size, Random rng, Span<float> dest)
    {
        int dx = 0, dy = 0;
        if (Crop == CropKind.PadCrop && Padding > 0)
        {
            dx = rng.Next(-Padding, Padding + 1);
            dy = rng.Next(-Padding, Padding + 1);
        }
        bool flip = HorizontalFlip && rng.Next(2) == 1;
        // Destination pixel x of a row reads source column (flip ? size - 1 - x : x) + dx; the columns that land inside
        // the image form one run [lo, hi), copied as a slice (and reversed when flipped), the rest is the zero padding.
        int lo = flip ? Math.Max(0, dx) : Math.Max(0, -dx), hi = flip ? Math.Min(size, size + dx) : Math.Min(size, size - dx);
        int from = flip ? size - hi + dx : lo + dx;
        int plane = size * size;
        for (int c = 0; c < 3; c++)
        {
            var s = src.Slice((channels == 1 ? 0 : c) * plane, plane);
            var d = dest.Slice(c * plane, plane);
            for (int y = 0; y < size; y++)
            {
                int sy = y + dy;
                var row = d.Slice(y * size, size);
                if ((uint)sy >= (uint)size || lo >= hi) { row.Clear(); continue; }
                row[..lo].Clear();
                row[hi..].Clear();
                var run = row[lo..hi];
                s.Slice(sy * size + from, hi - lo).CopyTo(run);
                if (flip) run.Reverse();
            }
        }
    }

    /// <summary>
    /// torchvision's RandomResizedCrop, then the flip: a random box of the decoded image (<see cref="SampleResizedCrop"/>)
    /// resampled to S×S as 3×S×S planes of 0–255 values. The box is drawn with SkiaSharp at the filter quality of ML.NET's
    /// <c>ResizeImages</c> (<see cref="SKFilterQuality.High"/>), so training crops and the deterministic resize of
    /// <see cref="ImageLoader"/> share one interpolation. The other crop kinds augment the evaluation planes instead
    /// (<see cref="ApplyToPlanes"/>).
    /// </summary>
    public void RandomResizedCrop(RgbImage image, int size, Random rng, Span<float> dest)
    {
        if (Crop != CropKind.RandomResizedCrop)
            throw new InvalidOperationException($"This augmentation crops with {Crop}; augment the resized planes with ApplyToPlanes.");
        if (dest.Length < 3 * size * size) throw new ArgumentException($"Destination holds {dest.Length} floats; {3 * size * size} needed.");
        var (x, y, w, h) = SampleResizedCrop(image.Width, image.Height, rng);
        using var source = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        // Straight into the bitmap's pixels: a staging array would be 200 KB of large-object garbage per 224² sample.
        using (var pixmap = source.PeekPixels())
            image.CopyToRgba(pixmap.GetPixelSpan<byte>());
        using var target = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(target))
        using (var paint = new SKPaint { FilterQuality = SKFilterQuality.High })
            canvas.DrawBitmap(source, new SKRect(x, y, x + w, y + h), new SKRect(0, 0, size, size), paint);
        var pixels = target.GetPixelSpan();
        int plane = size * size;
        for (int p = 0; p < plane; p++)
        {
            dest[p] = pixels[4 * p];
            dest[plane + p] = pixels[4 * p + 1];
            dest[2 * plane + p] = pixels[4 * p + 2];
        }
        if (HorizontalFlip && rng.Next(2) == 1) FlipPlanes(dest, size);
    }

    /// <summary>torchvision's RandomResizedCrop.get_params: ten tries at a random area and ratio, else the centre crop.</summary>
    internal (int X, int Y, int W, int H) SampleResizedCrop(int width, int height, Random rng)
    {
        double area = (double)width * height;
        double logLo = Math.Log(3.0 / 4), logHi = Math.Log(4.0 / 3);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (MinScale + rng.NextDouble() * (1 - MinScale));
            double ratio = Math.Exp(logLo + rng.NextDouble() * (logHi - logLo));
            int w = (int)Math.Round(Math.Sqrt(target * ratio));
            int h = (int)Math.Round(Math.Sqrt(target / ratio));
            if (w > 0 && h > 0 && w <= width && h <= height)
                return (rng.Next(width - w + 1), rng.Next(height - h + 1), w, h);
        }
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < 3.0 / 4) ch = (int)Math.Round(width / (3.0 / 4));
        else if (inRatio > 4.0 / 3) cw = (int)Math.Round(height * (4.0 / 3));
        return ((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    private static void FlipPlanes(Span<float> planes, int size)
    {
        for (int r = 0; r < 3 * size; r++) planes.Slice(r * size, size).Reverse();
    }
}
