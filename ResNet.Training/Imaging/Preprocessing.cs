using System.Text.Json.Serialization;

namespace ResNet.Training.Imaging;

/// <summary>
/// How an image becomes the network's input: resize the shorter side to <see cref="Resize"/>, take the centre
/// <see cref="Crop"/>×<see cref="Crop"/> square, scale to 0–1 and normalise each channel with
/// <see cref="Mean"/>/<see cref="Std"/>. Saved with every checkpoint and exported model so that nobody re-types
/// constants: the command line, the ML.NET transforms and ONNX export all read it from the weights.
/// </summary>
public sealed record Preprocessing
{
    /// <summary>ImageNet's per-channel mean (RGB, 0–1 scale).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    /// <summary>ImageNet's per-channel standard deviation (RGB, 0–1 scale).</summary>
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>torchvision's evaluation transform for ImageNet models: resize 256, centre crop 224, ImageNet mean/std.</summary>
    public static Preprocessing ImageNet { get; } = new();

    /// <summary>Shorter side after resizing, in pixels; at least <see cref="Crop"/>.</summary>
    public int Resize { get; init; } = 256;
    /// <summary>Side of the centre crop: the network's input size.</summary>
    public int Crop { get; init; } = 224;
    /// <summary>Per-channel mean subtracted after scaling to 0–1 (RGB).</summary>
    public float[] Mean { get; init; } = ImageNetMean;
    /// <summary>Per-channel standard deviation divided by after subtracting the mean (RGB).</summary>
    public float[] Std { get; init; } = ImageNetStd;

    /// <summary>Floats per image: 3 × Crop × Crop.</summary>
    [JsonIgnore] public int InputLength => 3 * Crop * Crop;

    /// <summary>Throws when the values cannot work.</summary>
    public Preprocessing Validated()
    {
        if (Crop < 1) throw new ArgumentException($"Crop must be positive, not {Crop}.");
        if (Resize < Crop) throw new ArgumentException($"Resize ({Resize}) must be at least Crop ({Crop}).");
        if (Mean.Length != 3 || Std.Length != 3) throw new ArgumentException("Mean and Std need three values (R, G, B).");
        if (Std.Any(s => !(s > 0))) throw new ArgumentException("Std values must be positive.");
        return this;
    }

    /// <summary>Writes the normalised 3×Crop×Crop planes of <paramref name="image"/> into <paramref name="dest"/>.</summary>
    public void Apply(RgbImage image, Span<float> dest)
    {
        ApplyUnnormalised(image, dest);
        Normalise(dest);
    }

    /// <summary>Returns the normalised 3×Crop×Crop planes of <paramref name="image"/>.</summary>
    public float[] Apply(RgbImage image)
    {
        var dest = new float[InputLength];
        Apply(image, dest);
        return dest;
    }

    /// <summary>Resize and centre crop only: 3×Crop×Crop planes with values 0–255 (what an ONNX model with baked-in preprocessing takes).</summary>
    public void ApplyUnnormalised(RgbImage image, Span<float> dest)
    {
        if (dest.Length < InputLength) throw new ArgumentException($"Destination holds {dest.Length} floats; {InputLength} needed.");
        var (outW, outH) = ResizedSize(image.Width, image.Height);
        Resampler.ResizeCropPlanar(image, outW, outH, (outW - Crop) / 2, (outH - Crop) / 2, Crop, Crop, dest);
    }

    /// <summary>Size after scaling the shorter side to <see cref="Resize"/> (aspect ratio kept, as torchvision rounds it).</summary>
    public (int Width, int Height) ResizedSize(int width, int height) =>
        width <= height
            ? (Resize, Math.Max(Resize, (int)((long)Resize * height / width)))
            : (Math.Max(Resize, (int)((long)Resize * width / height)), Resize);

    /// <summary>Turns 0–255 planes into normalised planes in place.</summary>
    public void Normalise(Span<float> planes)
    {
        int plane = Crop * Crop;
        for (int c = 0; c < 3; c++)
        {
            float scale = 1f / (255f * Std[c]), shift = Mean[c] / Std[c];
            var p = planes.Slice(c * plane, plane);
            for (int i = 0; i < p.Length; i++) p[i] = p[i] * scale - shift;
        }
    }
}
