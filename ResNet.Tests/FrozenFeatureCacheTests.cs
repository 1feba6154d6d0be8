using ResNet.Training.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Training;

namespace ResNet.Tests;

/// <summary>The frozen part's cache: its mirrored view must be the mirror image's activations, mean image and all.</summary>
public class FrozenFeatureCacheTests
{
    private const int Size = 32, Count = 3;

    [Fact]
    public void Mirrored_view_holds_the_activations_of_the_mirror_image_and_training_draws_both_views()
    {
        var random = new Random(7);
        // A per-pixel mean image that is not symmetric: mirroring the normalised planes alone would get it wrong.
        var preprocessing = new Preprocessing
        {
            Resize = Size, Crop = Size, Mean = [0f, 0f, 0f], Std = [1 / 255f, 1 / 255f, 1 / 255f],
            MeanImage = Enumerable.Range(0, 3 * Size * Size).Select(_ => (float)(random.NextDouble() * 255)).ToArray(),
        };
        var pixels = new byte[Count * 3 * Size * Size];
        random.NextBytes(pixels);
        var mirroredPixels = new byte[pixels.Length];
        for (int row = 0; row < Count * 3 * Size; row++)
            for (int x = 0; x < Size; x++) mirroredPixels[row * Size + x] = pixels[row * Size + Size - 1 - x];
        int[] labels = [0, 1, 0];
        var images = new InMemoryDataset(pixels, labels, 3, ["a", "b"], preprocessing);
        var mirrorImages = new InMemoryDataset(mirroredPixels, labels, 3, ["a", "b"], preprocessing);
        TorchSharp.torch.manual_seed(3);
        using var model = new ResNetModel(ResNetConfig.ResNet18(2, StemKind.ImageNet));

        var cache = FrozenFeatureCache.Build(model, 2, images, batchSize: 2, mirrored: true);
        var own = FrozenFeatureCache.Build(model, 2, images, batchSize: 2);
        var mirror = FrozenFeatureCache.Build(model, 2, mirrorImages, batchSize: 2);

        Assert.True(cache.Mirrored);
        Assert.False(own.Mirrored);
        Assert.Equal(new long[] { 128, 4, 4 }, cache.SampleShape);
        int length = 128 * 4 * 4;
        for (int i = 0; i < Count; i++)
        {
            var expectedOwn = Read(own, i, null, length);
            var expectedMirror = Read(mirror, i, null, length);
            Assert.Equal(expectedOwn, Read(cache, i, null, length)); // evaluation reads the image's own view
            Assert.True(MaxDifference(expectedOwn, expectedMirror) > 0.1, "the test images must not be symmetric");
            var seen = new HashSet<string>();
            for (int draw = 0; draw < 40; draw++)
            {
                var view = Read(cache, i, new Random(draw), length);
                bool isOwn = MaxDifference(view, expectedOwn) == 0;
                // float16 storage and a different summation order: equal to a few parts in a thousand of the largest value.
                bool isMirror = MaxDifference(view, expectedMirror) <= 5e-3 * expectedMirror.Max(Math.Abs);
                Assert.True(isOwn || isMirror, $"sample {i}, draw {draw}: neither the image's nor its mirror's activations");
                seen.Add(isOwn ? "own" : "mirror");
            }
            Assert.Equal(2, seen.Count);
        }
    }

    private static float[] Read(FrozenFeatureCache cache, int index, Random? augment, int length)
    {
        var values = new float[length];
        Assert.True(cache.TryRead(index, augment, values));
        return values;
    }

    private static float MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
}
