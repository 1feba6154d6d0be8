using System.Globalization;
using System.IO.Compression;

namespace ResNet.Training.Weights;

/// <summary>
/// Checks, before unpickling, that the tensors a weights file's pickle describes (<see cref="TensorHeader"/>) are what
/// their storages hold: each storage is no larger than the archive entry it is read from, each tensor lies within its
/// storage, and all of them together stay within <see cref="WeightsFile.MaxInflatedBytes"/>. Unpickling allocates each
/// tensor at the shape its header claims, so a header that claims terabytes would otherwise reach libtorch's allocator.
/// </summary>
internal static class TensorBounds
{
    /// <summary>Throws <see cref="InvalidDataException"/> naming the file and the key of the first tensor out of bounds.</summary>
    public static void Check(IReadOnlyList<TensorHeader> tensors, ZipArchive archive, string path)
    {
        long total = 0;
        foreach (var t in tensors)
        {
            string name = t.Key.Length > 0 ? $"tensor '{t.Key}'" : "a tensor outside the state dict's entries";
            Exception Refuse(string why) => new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: refused: {name} {why} — a damaged or hostile weights file."));

            int size = ElementSize(t.StorageType) ?? throw Refuse($"has an unknown storage type {t.StorageType}");
            var entry = archive.Entries.FirstOrDefault(e => e.FullName.EndsWith($"data/{t.StorageKey}", StringComparison.Ordinal))
                ?? throw Refuse($"reads storage data/{t.StorageKey}, which the archive lacks");
            long storageBytes = Multiply(Math.Max(t.StorageElements, 0), size);
            if (t.StorageElements < 0 || storageBytes > entry.Length)
                throw Refuse($"claims a storage of {t.StorageElements:N0} elements ({storageBytes:N0} bytes), but data/{t.StorageKey} holds {entry.Length:N0} bytes");
            if (t.Shape.Length != t.Stride.Length || t.Shape.Any(d => d < 0) || t.Stride.Any(s => s < 0) || t.Offset < 0)
                throw Refuse($"has a malformed shape [{string.Join(",", t.Shape)}], strides [{string.Join(",", t.Stride)}] or offset {t.Offset}");
            long elements = t.Shape.Aggregate(1L, Multiply);
            long bytes = Multiply(elements, size);
            // The last element the view reaches, +1: the view must lie within the storage.
            long reach = elements == 0 ? 0 : t.Shape.Zip(t.Stride).Aggregate(Add(t.Offset, 1), (sum, ds) => Add(sum, Multiply(ds.First - 1, ds.Second)));
            if (reach > t.StorageElements)
                throw Refuse($"claims shape [{string.Join(",", t.Shape)}] ({bytes:N0} bytes), beyond its storage data/{t.StorageKey} of {storageBytes:N0} bytes");
            total = Add(total, bytes);
            if (total > WeightsFile.MaxInflatedBytes)
                throw Refuse($"brings the tensors to {total:N0} bytes, over the limit of {WeightsFile.MaxInflatedBytes:N0} for a weights file (WeightsFile.MaxInflatedBytes)");
        }
    }

    /// <summary>Bytes per element of the storage types <see cref="PickleScanner.AllowedGlobals"/> lets through.</summary>
    private static int? ElementSize(string storageType) => storageType switch
    {
        "DoubleStorage" or "LongStorage" => 8,
        "FloatStorage" or "IntStorage" => 4,
        "HalfStorage" or "BFloat16Storage" or "ShortStorage" => 2,
        "CharStorage" or "ByteStorage" or "BoolStorage" => 1,
        _ => null,
    };

    // Saturating arithmetic on non-negative sizes: a claim beyond long is refused like any other too-large claim.
    private static long Multiply(long a, long b) => a == 0 || b <= long.MaxValue / a ? a * b : long.MaxValue;

    private static long Add(long a, long b) => a <= long.MaxValue - b ? a + b : long.MaxValue;
}
