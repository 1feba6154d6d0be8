namespace ResNet.Training.Data;

/// <summary>
/// Seeds derived from (seed, epoch, index) with SplitMix64, so augmentation and shuffling are the same whichever
/// thread does the work, in whatever order, and after a resume.
/// </summary>
public static class SampleRandom
{
    /// <summary>SplitMix64's output function: a well-mixed 64-bit value for <paramref name="x"/>.</summary>
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>A seed for the pair of values.</summary>
    public static int Seed(long a, long b, long c = 0) =>
        (int)(Mix(Mix(Mix((ulong)a) ^ (ulong)b) ^ (ulong)c) & 0x7FFFFFFF);

    /// <summary>The random source of sample <paramref name="index"/>'s augmentation in <paramref name="epoch"/>.</summary>
    public static Random ForSample(int seed, int epoch, int index) => new(Seed(seed, epoch, index + 1L));

    /// <summary>The order of <paramref name="count"/> samples in <paramref name="epoch"/> (Fisher–Yates).</summary>
    public static int[] Permutation(int count, int seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(Seed(seed, epoch, -1)).Shuffle(order);
        return order;
    }
}
