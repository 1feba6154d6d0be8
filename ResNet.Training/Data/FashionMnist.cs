using ResNet.Training.Imaging;

namespace ResNet.Training.Data;

/// <summary>
/// Fashion-MNIST (and MNIST-format) data from a folder of IDX files: <c>train-images-idx3-ubyte[.gz]</c>,
/// <c>train-labels-idx1-ubyte[.gz]</c>, <c>t10k-…</c>. The 28×28 grayscale images are resized once, on loading, to the
/// network's input size with <see cref="ImageLoader.Resize(RgbImage)"/> — ML.NET's resize, the one that serves the model —
/// and kept as bytes, so a Fashion-MNIST image saved as a PNG and fed to <c>predict</c> or the ML.NET transforms
/// reaches the network with the same pixels as in training.
/// </summary>
public static class FashionMnist
{
    /// <summary>Fashion-MNIST's class names, in label order.</summary>
    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Where Debian's dataset-fashion-mnist package installs the full dataset.</summary>
    public const string SystemPath = "/usr/share/datasets/fashion-mnist";

    /// <summary>Pixel mean and standard deviation of Fashion-MNIST's training set (0–1 scale), used for all three channels.</summary>
    public const float Mean = 0.2860f, Std = 0.3530f;

    /// <summary>The preprocessing of a network trained on Fashion-MNIST at <paramref name="size"/>² (a resize, no crop).</summary>
    public static Preprocessing PreprocessingFor(int size) =>
        new() { Resize = size, Crop = size, Mean = [Mean, Mean, Mean], Std = [Std, Std, Std] };

    /// <summary>Loads split <paramref name="split"/> (<c>train</c> or <c>t10k</c>) from <paramref name="folder"/> at <paramref name="size"/>².</summary>
    /// <param name="folder">Folder of the IDX files.</param>
    /// <param name="split"><c>train</c> or <c>t10k</c>.</param>
    /// <param name="size">Network input side.</param>
    /// <param name="augmentation">Training augmentation (pad+crop and flip by default).</param>
    /// <param name="preprocessing">Normalisation; Fashion-MNIST's own mean and deviation by default.</param>
    public static InMemoryDataset Load(string folder, string split, int size = 32, Augmentation? augmentation = null, Preprocessing? preprocessing = null)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Fashion-MNIST folder not found: {folder} (install Debian's dataset-fashion-mnist package, or give fashion-mnist:PATH).");
        var (count, rows, cols, pixels) = IdxFile.ReadImages(Find(folder, $"{split}-images-idx3-ubyte"));
        var labelBytes = IdxFile.ReadLabels(Find(folder, $"{split}-labels-idx1-ubyte"));
        if (labelBytes.Length != count)
            throw new InvalidDataException($"{folder}: {count} {split} images but {labelBytes.Length} labels.");
        var resized = rows == size && cols == size ? pixels : Resize(pixels, count, rows, cols, size);
        var labels = labelBytes.Select(b => (int)b).ToArray();
        return new InMemoryDataset(resized, labels, 1, ClassNames, preprocessing ?? PreprocessingFor(size), augmentation);
    }

    private static string Find(string folder, string stem)
    {
        foreach (var name in new[] { stem + ".gz", stem, stem.Replace("-idx", ".idx") + ".gz", stem.Replace("-idx", ".idx") })
        {
            string path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{folder} has no {stem}[.gz]: expected the IDX files of MNIST/Fashion-MNIST.");
    }

    private static byte[] Resize(byte[] pixels, int count, int rows, int cols, int size)
    {
        var result = new byte[(long)count * size * size];
        Parallel.For(0, count, () => new ImageLoader(size), (i, _, loader) =>
        {
            var rgb = new byte[rows * cols * 3];
            var src = pixels.AsSpan(i * rows * cols, rows * cols);
            for (int p = 0; p < src.Length; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = src[p];
            // Gray in, gray out: the three planes are equal, keep the first. ExtractPixels gives whole numbers 0–255.
            var planes = loader.Resize(new RgbImage(cols, rows, rgb));
            var dst = result.AsSpan(i * size * size, size * size);
            for (int p = 0; p < dst.Length; p++) dst[p] = (byte)planes[p];
            return loader;
        }, loader => loader.Dispose());
        return result;
    }
}
