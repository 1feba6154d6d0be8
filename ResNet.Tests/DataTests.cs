using System.IO.Compression;
using ResNet.Training.Data;
using ResNet.Training.Imaging;
using SkiaSharp;

namespace ResNet.Tests;

/// <summary>IDX files, image folders with bad data, augmentation and the background loader.</summary>
public class DataTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private static byte[] Idx(byte[] data, params int[] dims)
    {
        var header = new List<byte> { 0, 0, 0x08, (byte)dims.Length };
        foreach (int d in dims) header.AddRange(new[] { (byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d });
        return [.. header, .. data];
    }

    [Fact]
    public void Idx_files_read_the_same_gzipped_or_raw_and_truncation_is_named()
    {
        string dir = scratch.New();
        var pixels = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        var bytes = Idx(pixels, 2, 3, 4);
        File.WriteAllBytes(Path.Combine(dir, "raw-idx3-ubyte"), bytes);
        using (var gz = new GZipStream(File.Create(Path.Combine(dir, "gz-idx3-ubyte.gz")), CompressionLevel.Optimal))
            gz.Write(bytes);
        foreach (var name in new[] { "raw-idx3-ubyte", "gz-idx3-ubyte.gz" })
        {
            var (count, rows, cols, data) = IdxFile.ReadImages(Path.Combine(dir, name));
            Assert.Equal((2, 3, 4), (count, rows, cols));
            Assert.Equal(pixels, data);
        }
        File.WriteAllBytes(Path.Combine(dir, "cut"), bytes[..^5]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(Path.Combine(dir, "cut")));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("cut", e.Message);
        File.WriteAllBytes(Path.Combine(dir, "labels"), Idx([1, 2, 3], 3));
        Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(Path.Combine(dir, "labels")));
        Assert.Equal(new byte[] { 1, 2, 3 }, IdxFile.ReadLabels(Path.Combine(dir, "labels")));
    }

    [Fact]
    public void Bundled_fashion_mnist_subset_has_the_documented_counts()
    {
        string folder = Path.Combine(TestPaths.RepoRoot, "data", "fashion-mnist-small");
        var train = FashionMnist.Load(folder, "train", 32);
        var test = FashionMnist.Load(folder, "t10k", 32);
        Assert.Equal(10_000, train.Count);
        Assert.Equal(2_000, test.Count);
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(200, Enumerable.Range(0, test.Count).Count(i => test.LabelOf(i) == c)));
        var sample = new float[3 * 32 * 32];
        Assert.True(train.TryRead(0, null, sample));
        // Grayscale replicated to three equal channels.
        Assert.Equal(sample[100], sample[1024 + 100]);
        Assert.Equal(sample[100], sample[2048 + 100]);
    }

    [Fact]
    public void Image_folder_skips_bad_files_with_reasons_and_converts_gray_rgba_and_cmyk()
    {
        string root = scratch.New();
        TestImages.Write(Path.Combine(root, "cat", "a.PNG"), 20, 16, (x, y) => new SKColor(200, 10, 10));
        TestImages.Write(Path.Combine(root, "cat", "b.JpEg"), 20, 16, (x, y) => new SKColor(10, 200, 10), SKEncodedImageFormat.Jpeg);
        TestImages.Write(Path.Combine(root, "cat", "gray.png"), 16, 16, (x, y) => new SKColor(90, 90, 90), colorType: SKColorType.Gray8);
        TestImages.Write(Path.Combine(root, "dog", "rgba.png"), 16, 16, (x, y) => new SKColor(10, 10, 200, 128), alpha: SKAlphaType.Unpremul);
        File.Copy(Path.Combine(TestPaths.RepoRoot, "ResNet.Tests", "Fixtures", "cmyk-red.jpg"), Path.Combine(root, "dog", "cmyk.jpg"));
        File.WriteAllBytes(Path.Combine(root, "dog", "empty.jpg"), []);
        File.WriteAllText(Path.Combine(root, "dog", "notes.jpg"), "not an image");
        File.WriteAllText(Path.Combine(root, "dog", "readme.txt"), "hello");
        var full = File.ReadAllBytes(Path.Combine(root, "cat", "a.PNG"));
        File.WriteAllBytes(Path.Combine(root, "dog", "truncated.png"), full[..40]);

        using var set = ImageFolderDataset.Open(root, new Preprocessing { Resize = 16, Crop = 16 });
        Assert.Equal(new[] { "cat", "dog" }, set.ClassNames);
        Assert.Equal(3, set.Skipped.Count); // empty, not-an-image content, wrong extension: found by the scan
        Assert.Equal(6, set.Count);
        var sample = new float[3 * 16 * 16];
        var reads = Enumerable.Range(0, set.Count).ToDictionary(i => Path.GetFileName(set.PathOf(i)), i => set.TryRead(i, null, sample));
        Assert.False(reads["truncated.png"]);
        Assert.True(reads["gray.png"] && reads["rgba.png"] && reads["cmyk.jpg"] && reads["a.PNG"] && reads["b.JpEg"]);
        Assert.True(set.TryRead(Array.FindIndex(Enumerable.Range(0, set.Count).ToArray(), i => set.PathOf(i).EndsWith("cmyk.jpg")), new Random(1), sample));
        var summary = set.Skipped.Summary();
        Assert.StartsWith("4 file(s) skipped", summary);
        Assert.Contains("the file is empty", summary);
        Assert.Contains("the content is not JPEG, PNG or BMP", summary);
        Assert.Contains("not an image file name", summary);
        Assert.Contains("truncated PNG", summary);

        // The CMYK JPEG decodes to red, the gray PNG to three equal channels.
        var cmyk = ImageDecoder.FromFile(Path.Combine(root, "dog", "cmyk.jpg"));
        Assert.True(cmyk.Pixels[0] > 200 && cmyk.Pixels[1] < 50 && cmyk.Pixels[2] < 50, $"CMYK red decoded as {cmyk.Pixels[0]},{cmyk.Pixels[1]},{cmyk.Pixels[2]}");
        var gray = ImageDecoder.FromFile(Path.Combine(root, "cat", "gray.png"));
        Assert.Equal(gray.Pixels[0], gray.Pixels[1]);
        Assert.Equal(gray.Pixels[0], gray.Pixels[2]);
    }

    [Fact]
    public void Empty_class_single_class_and_missing_class_folders_get_clear_messages()
    {
        string root = scratch.New();
        TestImages.Noise(Path.Combine(root, "a", "1.png"), 8, 1);
        Directory.CreateDirectory(Path.Combine(root, "b"));
        File.WriteAllBytes(Path.Combine(root, "b", "broken.jpg"), []);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Scan(root));
        Assert.Contains("no usable images: b", e.Message);

        Directory.Delete(Path.Combine(root, "b"), true);
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Scan(root));
        Assert.Contains("at least two classes", e.Message);

        string loose = scratch.New();
        TestImages.Noise(Path.Combine(loose, "x.png"), 8, 2);
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Scan(loose));
        Assert.Contains("no class folders", e.Message);

        Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Scan(Path.Combine(loose, "missing")));
    }

    [Fact]
    public void Augmentation_and_order_depend_only_on_seed_epoch_and_index()
    {
        var data = Tiny(40, 4, 16, seed: 3);
        Batch[] Epoch(int seed, int epoch, int workers) => new DataLoader(data, 8, train: true, seed, workers).Epoch(epoch).ToArray();
        var a = Epoch(7, 0, 1);
        var b = Epoch(7, 0, 4);
        Assert.Equal(5, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i].Indices, b[i].Indices);
            Assert.Equal(a[i].Inputs, b[i].Inputs);
        }
        var c = Epoch(7, 1, 2);
        Assert.NotEqual(a[0].Indices, c[0].Indices);
        var d = Epoch(8, 0, 2);
        Assert.NotEqual(a.SelectMany(x => x.Inputs), d.SelectMany(x => x.Inputs));
        // Resuming at batch 2 gives exactly the batches 2.. of the full epoch.
        var tail = new DataLoader(data, 8, train: true, 7, 2).Epoch(0, startBatch: 2).ToArray();
        Assert.Equal(a[2..].Select(x => x.Inputs), tail.Select(x => x.Inputs));
        // Evaluation: dataset order, no augmentation.
        var eval = new DataLoader(data, 8, train: false).Epoch(0).ToArray();
        Assert.Equal(Enumerable.Range(0, 40), eval.SelectMany(x => x.Indices));
    }

    [Fact]
    public void Reused_input_arrays_give_the_batches_of_fresh_ones()
    {
        // 44 samples in batches of 8: five full batches and a short one, whose array cannot take a full one's.
        var data = Tiny(44, 4, 16, seed: 5);
        foreach (int workers in new[] { 1, 3 })
        {
            var loader = new DataLoader(data, 8, train: true, seed: 2, workers);
            var fresh = loader.Epoch(1).Select(b => b.Inputs).ToArray();
            var reusedContents = new List<float[]>();
            var arrays = new HashSet<float[]>(ReferenceEqualityComparer.Instance);
            foreach (var batch in loader.Epoch(1, reuseInputs: true))
            {
                reusedContents.Add(batch.Inputs.ToArray());
                arrays.Add(batch.Inputs);
            }
            Assert.Equal(fresh, reusedContents);
            // The short batch needs its own array; the five full ones share at most one per worker and one in use.
            Assert.InRange(arrays.Count, 2, workers + 2);
        }
    }

    [Fact]
    public void A_batchs_input_tensor_is_its_array_without_a_copy()
    {
        var batch = new Batch(0, Enumerable.Range(0, 2 * 3 * 2 * 2).Select(i => (float)i).ToArray(), [0, 1], [4, 5], 2);
        using var x = batch.InputTensor([3, 2, 2]);
        Assert.Equal(new long[] { 2, 3, 2, 2 }, x.shape);
        Assert.Equal(batch.Inputs, x.data<float>().ToArray());
        batch.Inputs[5] = -1;
        Assert.Equal(-1f, x[0, 1, 0, 1].item<float>());
    }

    [Fact]
    public void Random_resized_crop_of_a_uniform_image_keeps_its_colour()
    {
        var rgb = new byte[40 * 30 * 3];
        for (int i = 0; i < rgb.Length; i += 3) (rgb[i], rgb[i + 1], rgb[i + 2]) = ((byte)10, (byte)200, (byte)77);
        var planes = new float[3 * 24 * 24];
        new Augmentation { Crop = CropKind.RandomResizedCrop }.RandomResizedCrop(new RgbImage(40, 30, rgb), 24, new Random(4), planes);
        Assert.All(planes[..576], v => Assert.Equal(10f, v));
        Assert.All(planes[576..1152], v => Assert.Equal(200f, v));
        Assert.All(planes[1152..], v => Assert.Equal(77f, v));
    }

    [Fact]
    public void Random_resized_crop_is_deterministic_and_stays_inside_the_image()
    {
        string file = Directory.EnumerateFiles(Path.Combine(TestPaths.Imagenette, "train"), "*", SearchOption.AllDirectories).First();
        var image = ImageDecoder.FromFile(file);
        var aug = new Augmentation { Crop = CropKind.RandomResizedCrop };
        var x = new float[3 * 64 * 64];
        var y = new float[3 * 64 * 64];
        aug.RandomResizedCrop(image, 64, SampleRandom.ForSample(1, 2, 3), x);
        aug.RandomResizedCrop(image, 64, SampleRandom.ForSample(1, 2, 3), y);
        Assert.Equal(x, y);
        Assert.All(x, v => Assert.InRange(v, -0.01f, 255.01f));
        for (int s = 0; s < 200; s++)
        {
            var (cx, cy, w, h) = aug.SampleResizedCrop(image.Width, image.Height, new Random(s));
            Assert.True(cx >= 0 && cy >= 0 && w > 0 && h > 0 && cx + w <= image.Width && cy + h <= image.Height);
        }
    }

    [Fact]
    public void Pad_crop_shifts_and_flip_mirrors()
    {
        var src = Enumerable.Range(0, 4 * 4).Select(i => (float)i).ToArray();
        var dest = new float[3 * 16];
        new Augmentation { Crop = CropKind.None, HorizontalFlip = true }.ApplyToPlanes(src, 1, 4, new FlipAlways(), dest);
        Assert.Equal(new float[] { 3, 2, 1, 0 }, dest[..4]);
        Assert.Equal(dest[..16], dest[16..32]);
    }

    [Fact]
    public void Pad_crop_moves_every_pixel_by_the_drawn_offset_and_pads_with_zeros()
    {
        const int size = 6, padding = 2;
        var src = Enumerable.Range(0, 3 * size * size).Select(i => (float)(i + 1)).ToArray();
        var augmentation = new Augmentation { Crop = CropKind.PadCrop, Padding = padding };
        for (int dx = -padding; dx <= padding; dx++)
            for (int dy = -padding; dy <= padding; dy++)
                foreach (bool flip in new[] { false, true })
                {
                    var dest = new float[3 * size * size];
                    augmentation.ApplyToPlanes(src, 3, size, new Scripted(dx, dy, flip ? 1 : 0), dest);
                    for (int c = 0; c < 3; c++)
                        for (int y = 0; y < size; y++)
                            for (int x = 0; x < size; x++)
                            {
                                // The definition: destination (x, y) shows source ((flip ? size-1-x : x) + dx, y + dy), 0 outside.
                                int sx = (flip ? size - 1 - x : x) + dx, sy = y + dy;
                                float expected = sx is >= 0 and < size && sy is >= 0 and < size ? src[(c * size + sy) * size + sx] : 0f;
                                Assert.True(expected == dest[(c * size + y) * size + x], $"dx {dx}, dy {dy}, flip {flip}: pixel ({x}, {y}) of plane {c}");
                            }
                }
    }

    [Fact]
    public void Seeded_split_is_stratified_and_reproducible()
    {
        var data = Tiny(100, 4, 4, seed: 1);
        var (kept, held) = SubsetDataset.Split(data, 0.2, seed: 5);
        var (kept2, held2) = SubsetDataset.Split(data, 0.2, seed: 5);
        Assert.Equal(held.Indices, held2.Indices);
        Assert.Equal(20, held.Count);
        Assert.Equal(80, kept.Count);
        Assert.Empty(kept.Indices.Intersect(held.Indices));
        Assert.All(Enumerable.Range(0, 4), c => Assert.Equal(5, Enumerable.Range(0, held.Count).Count(i => held.LabelOf(i) == c)));
        Assert.NotEqual(held.Indices, SubsetDataset.Split(data, 0.2, seed: 6).Held.Indices);
    }

    /// <summary>Random bytes as <paramref name="count"/> RGB samples of side <paramref name="size"/>, labels i mod <paramref name="classes"/>.</summary>
    internal static InMemoryDataset Tiny(int count, int classes, int size, int seed)
    {
        var pixels = new byte[count * 3 * size * size];
        new Random(seed).NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(i => i % classes).ToArray();
        return new InMemoryDataset(pixels, labels, 3, Enumerable.Range(0, classes).Select(c => $"class{c}").ToArray(),
            new Preprocessing { Resize = size, Crop = size, Mean = [0.5f, 0.5f, 0.5f], Std = [0.25f, 0.25f, 0.25f] });
    }

    /// <summary>A Random whose Next(2) always flips.</summary>
    private sealed class FlipAlways : Random
    {
        public override int Next(int maxValue) => maxValue - 1;
    }

    /// <summary>Draws the given offsets (the crop's dx, then dy) and flip decision, in the order ApplyToPlanes draws them.</summary>
    private sealed class Scripted(int dx, int dy, int flip) : Random
    {
        private int draws;
        public override int Next(int minValue, int maxValue) => draws++ == 0 ? dx : dy;
        public override int Next(int maxValue) => flip;
    }
}
