using System.Text.Json.Serialization;

namespace ResNet.Training.Imaging;

/// <summary>
/// How an image becomes the network's input, in two steps that every front door shares:
/// <list type="number">
/// <item>ML.NET's <c>ResizeImages</c> (IsoCrop, centre anchor) to <see cref="Resize"/>×<see cref="Resize"/> — the shorter
/// side scaled to <see cref="Resize"/>, the longer one centre-cropped — and <c>ExtractPixels</c> as RGB planes of 0–255
/// floats (<see cref="ImageLoader"/>). Using ML.NET's own resize keeps the command line, the ML.NET transforms and a
/// saved ML.NET model (which can only hold stock transforms plus ONNX) numerically identical.</item>
/// <item>A centre crop to <see cref="Crop"/>×<see cref="Crop"/>, scaling to 0–1 and per-channel normalisation with
/// <see cref="Mean"/>/<see cref="Std"/> (<c>CropAndNormalise</c>; inside the graph for ONNX models exported with preprocessing).
/// A network trained on mean-image-subtracted input (CNTK's, see <see cref="MeanImage"/>) has that image subtracted first.</item>
/// </list>
/// With the defaults this is torchvision's ImageNet evaluation transform (resize 256, centre crop 224).
/// Saved with every checkpoint and exported model, so nobody re-types constants.
/// </summary>
public sealed record Preprocessing
{
    /// <summary>ImageNet's per-channel mean (RGB, 0–1 scale).</summary>
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    /// <summary>ImageNet's per-channel standard deviation (RGB, 0–1 scale).</summary>
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>torchvision's evaluation transform for ImageNet models: resize 256, centre crop 224, ImageNet mean/std.</summary>
    public static Preprocessing ImageNet { get; } = new();

    /// <summary>Side of the square the image is resized (shorter side) and cropped (longer side) to, in pixels; at least <see cref="Crop"/>.</summary>
    public int Resize { get; init; } = 256;
    /// <summary>Side of the centre crop: the network's input size.</summary>
    public int Crop { get; init; } = 224;
    /// <summary>Per-channel mean subtracted after scaling to 0–1 (RGB).</summary>
    public float[] Mean { get; init; } = ImageNetMean;
    /// <summary>Per-channel standard deviation divided by after subtracting the mean (RGB).</summary>
    public float[] Std { get; init; } = ImageNetStd;

    /// <summary>
    /// Optional per-pixel mean (3×Crop×Crop RGB planes, 0–255 scale) subtracted from the cropped image before the
    /// per-channel normalisation: <c>(x − MeanImage) · Scale[c] − Shift[c]</c>. CNTK's ImageNet models expect it (with
    /// <see cref="Mean"/> 0 and <see cref="Std"/> 1/255, so that the input stays on the 0–255 scale). Stored in the
    /// card as base64 little-endian float32, bit for bit.
    /// </summary>
    [JsonConverter(typeof(Float32Base64Converter)), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float[]? MeanImage { get; init; }

    /// <summary>Floats per network input: 3 × Crop × Crop.</summary>
    [JsonIgnore] public int InputLength => 3 * Crop * Crop;

    /// <summary>Floats per resized image: 3 × Resize × Resize.</summary>
    [JsonIgnore] public int ResizedLength => 3 * Resize * Resize;

    /// <summary>Where the centre crop starts in the Resize² square, on both axes.</summary>
    [JsonIgnore] public int CropOffset => (Resize - Crop) / 2;

    /// <summary>
    /// Per-channel factor and offset of the normalisation, <c>x · Scale[c] − Shift[c]</c> for 0–255 values
    /// (<c>Scale = 1/(255·std)</c>, <c>Shift = mean/std</c>). Every implementation (C# and the ONNX graph) uses these
    /// very float32 constants, so they agree to the bit.
    /// </summary>
    [JsonIgnore] public (float[] Scale, float[] Shift) Normalisation =>
        (Enumerable.Range(0, 3).Select(c => 1f / (255f * Std[c])).ToArray(),
         Enumerable.Range(0, 3).Select(c => Mean[c] / Std[c]).ToArray());

    /// <summary>
    /// The largest <see cref="Resize"/> (and so <see cref="Crop"/>): 4096, i.e. 192 MB of floats per resized image.
    /// Far beyond any ResNet input; it keeps a typo such as 30000 from asking for gigabytes per image.
    /// </summary>
    public const int MaxSide = 4096;

    /// <summary>Throws when the values cannot work.</summary>
    public Preprocessing Validated()
    {
        if (Crop < 1) throw new ArgumentException($"Crop must be positive, not {Crop}.");
        if (Resize > MaxSide) throw new ArgumentException($"Resize ({Resize}) must be at most {MaxSide}.");
        if (Resize < Crop) throw new ArgumentException($"Resize ({Resize}) must be at least Crop ({Crop}).");
        if (Mean.Length != 3 || Std.Length != 3) throw new ArgumentException("Mean and Std need three values (R, G, B).");
        if (Std.Any(s => !(s > 0))) throw new ArgumentException("Std values must be positive.");
        if (MeanImage is { } m && m.Length != InputLength)
            throw new ArgumentException($"MeanImage holds {m.Length} values; a {Crop}² crop needs 3×{Crop}×{Crop} = {InputLength}.");
        return this;
    }

    /// <summary>
    /// Centre-crops 3×Resize×Resize planes of 0–255 values (as <see cref="ImageLoader"/> gives them) to 3×Crop×Crop
    /// planes of 0–255 values in <paramref name="dest"/> (what training augments before <see cref="Normalise"/>).
    /// </summary>
    public void CentreCrop(ReadOnlySpan<float> resized, Span<float> dest)
    {
        if (resized.Length != ResizedLength)
            throw new ArgumentException($"Expected 3×{Resize}×{Resize} = {ResizedLength} pixel values, got {resized.Length}.");
        if (dest.Length < InputLength) throw new ArgumentException($"Destination holds {dest.Length} floats; {InputLength} needed.");
        int offset = CropOffset;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < Crop; y++)
                resized.Slice(c * Resize * Resize + (y + offset) * Resize + offset, Crop).CopyTo(dest.Slice((c * Crop + y) * Crop, Crop));
    }

    /// <summary>
    /// Centre-crops 3×Resize×Resize planes of 0–255 values (as <see cref="ImageLoader"/> gives them) to 3×Crop×Crop
    /// and normalises them into <paramref name="dest"/>.
    /// </summary>
    public void CropAndNormalise(ReadOnlySpan<float> resized, Span<float> dest)
    {
        CentreCrop(resized, dest);
        Normalise(dest[..InputLength]);
    }

    /// <summary>Returns the normalised 3×Crop×Crop input for 3×Resize×Resize planes of 0–255 values.</summary>
    public float[] CropAndNormalise(ReadOnlySpan<float> resized)
    {
        var dest = new float[InputLength];
        CropAndNormalise(resized, dest);
        return dest;
    }

    /// <summary>Returns the normalised N×3×Crop×Crop input for <paramref name="count"/> images of 3×Resize×Resize planes (0–255 values).</summary>
    public float[] CropAndNormaliseBatch(ReadOnlySpan<float> resized, int count)
    {
        if (count < 1 || resized.Length != (long)count * ResizedLength)
            throw new ArgumentException($"Expected {count}×3×{Resize}×{Resize} = {(long)count * ResizedLength} pixel values, got {resized.Length}.");
        var dest = new float[count * InputLength];
        for (int i = 0; i < count; i++)
            CropAndNormalise(resized.Slice(i * ResizedLength, ResizedLength), dest.AsSpan(i * InputLength, InputLength));
        return dest;
    }

    /// <summary>Normalises 3×Crop×Crop planes of 0–255 values in place (training augmentation produces these).</summary>
    public void Normalise(Span<float> planes)
    {
        if (planes.Length != InputLength)
            throw new ArgumentException($"Expected 3×{Crop}×{Crop} = {InputLength} pixel values, got {planes.Length}.");
        int plane = Crop * Crop;
        var (scales, shifts) = Normalisation;
        for (int c = 0; c < 3; c++)
        {
            float scale = scales[c], shift = shifts[c];
            var p = planes.Slice(c * plane, plane);
            if (MeanImage is { } mean)
            {
                var m = mean.AsSpan(c * plane, plane);
                for (int i = 0; i < p.Length; i++) p[i] = (p[i] - m[i]) * scale - shift;
            }
            else
            {
                for (int i = 0; i < p.Length; i++) p[i] = p[i] * scale - shift;
            }
        }
    }
}
