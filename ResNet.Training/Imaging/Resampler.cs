namespace ResNet.Training.Imaging;

/// <summary>
/// Antialiased bilinear (triangle filter) resampling in the manner of PIL's <c>Image.resize(BILINEAR)</c>, which
/// torchvision's <c>Resize</c> uses on PIL images: when shrinking, the filter widens with the scale so every
/// source pixel contributes. Works in floats and computes only the output window that is kept, so a
/// resize-then-crop costs no more than the crop.
/// </summary>
internal static class Resampler
{
    /// <summary>One output coordinate's source span and normalised weights.</summary>
    private readonly record struct Taps(int First, float[] Weights);

    /// <summary>
    /// Resizes <paramref name="src"/> to <paramref name="outW"/>×<paramref name="outH"/> and writes the window
    /// starting at (<paramref name="x0"/>, <paramref name="y0"/>) of size <paramref name="cropW"/>×<paramref name="cropH"/>
    /// as channel planes (3 × cropH × cropW, values 0–255) into <paramref name="dest"/>.
    /// </summary>
    public static void ResizeCropPlanar(RgbImage src, int outW, int outH, int x0, int y0, int cropW, int cropH, Span<float> dest)
    {
        var xt = ComputeTaps(src.Width, outW, x0, cropW);
        var yt = ComputeTaps(src.Height, outH, y0, cropH);
        // Horizontal pass over only the source rows that the vertical taps read.
        int rowMin = yt[0].First, rowMax = yt[^1].First + yt[^1].Weights.Length;
        int rows = rowMax - rowMin;
        var horizontal = new float[rows * cropW * 3];
        var px = src.Pixels;
        for (int r = 0; r < rows; r++)
        {
            int srcRow = (rowMin + r) * src.Width * 3;
            for (int x = 0; x < cropW; x++)
            {
                var t = xt[x];
                float cr = 0, cg = 0, cb = 0;
                int p = srcRow + t.First * 3;
                foreach (var w in t.Weights)
                {
                    cr += w * px[p]; cg += w * px[p + 1]; cb += w * px[p + 2];
                    p += 3;
                }
                int o = (r * cropW + x) * 3;
                horizontal[o] = cr; horizontal[o + 1] = cg; horizontal[o + 2] = cb;
            }
        }
        int plane = cropW * cropH;
        for (int y = 0; y < cropH; y++)
        {
            var t = yt[y];
            for (int x = 0; x < cropW; x++)
            {
                float cr = 0, cg = 0, cb = 0;
                int p = ((t.First - rowMin) * cropW + x) * 3;
                foreach (var w in t.Weights)
                {
                    cr += w * horizontal[p]; cg += w * horizontal[p + 1]; cb += w * horizontal[p + 2];
                    p += cropW * 3;
                }
                int o = y * cropW + x;
                dest[o] = cr; dest[plane + o] = cg; dest[2 * plane + o] = cb;
            }
        }
    }

    private static Taps[] ComputeTaps(int inSize, int outSize, int start, int count)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale; // the triangle filter's support is 1 at scale 1
        var taps = new Taps[count];
        for (int i = 0; i < count; i++)
        {
            double center = (start + i + 0.5) * scale;
            int lo = Math.Max((int)Math.Floor(center - support + 0.5), 0);
            int hi = Math.Min((int)Math.Floor(center + support + 0.5), inSize);
            if (hi <= lo) hi = Math.Min(lo + 1, inSize);
            var w = new float[hi - lo];
            double sum = 0;
            for (int k = 0; k < w.Length; k++)
            {
                double d = Math.Abs((lo + k - center + 0.5) / filterScale);
                double v = d < 1 ? 1 - d : 0;
                w[k] = (float)v; sum += v;
            }
            if (sum <= 0) { Array.Fill(w, 0f); w[0] = 1; sum = 1; }
            for (int k = 0; k < w.Length; k++) w[k] = (float)(w[k] / sum);
            taps[i] = new Taps(lo, w);
        }
        return taps;
    }
}
