using System.Globalization;
using System.IO.Compression;

namespace ResNet.Training.Weights;

/// <summary>
/// Checks, before unpickling, that what a weights file's pickle describes (<see cref="PickleContents"/>) is what the
/// archive holds: each storage is no larger than the archive entry it is read from, each tensor lies within its
/// storage, and the storages and the tensors each stay within <see cref="WeightsFile.MaxInflatedBytes"/> in all.
/// Unpickling allocates every storage and every tensor at the size its header claims, so a header that claims
/// terabytes would otherwise reach the allocator (libtorch's, with a native stack trace).
/// </summary>
internal static class TensorBounds
{
    /// <summary>Throws <see cref="InvalidDataException"/> naming the file and the key of the first tensor out of bounds.</summary>
    public static void Check(PickleContents contents, ZipArchive archive, string path)
    {
        Exception Refuse(string what, string why) => new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
            $"{path}: refused: {what} {why} — a damaged or hostile weights file."));
        string Name(TensorHeader t) => t.Key.Length > 0 ? $"tensor '{t.Key}'" : "a tensor outside the state dict's entries";
        string Owner(StorageHeader s) => contents.Tensors.FirstOrDefault(t => ReferenceEquals(t.Storage, s)) is { } t ? Name(t) : $"storage data/{s.Key}";

        long storages = 0;
        foreach (var s in contents.Storages)
        {
            int size = ElementSize(s.Type) ?? throw Refuse(Owner(s), $"has an unknown storage type {s.Type}");
            var entry = archive.Entries.FirstOrDefault(e => e.FullName.EndsWith($"data/{s.Key}", StringComparison.Ordinal))
                ?? throw Refuse(Owner(s), $"reads storage data/{s.Key}, which the archive lacks");
            long bytes = Multiply(Math.Max(s.Elements, 0), size);
            if (s.Elements < 0 || bytes > entry.Length)
                throw Refuse(Owner(s), $"claims a storage of {s.Elements:N0} elements ({bytes:N0} bytes), but data/{s.Key} holds {entry.Length:N0} bytes");
            storages = Add(storages, bytes);
            if (storages > WeightsFile.MaxInflatedBytes)
                throw Refuse(Owner(s), $"brings the storages to {storages:N0} bytes, over the limit of {WeightsFile.MaxInflatedBytes:N0} for a weights file (WeightsFile.MaxInflatedBytes)");
        }

        long tensors = 0;
        foreach (var t in contents.Tensors)
        {
            int size = ElementSize(t.Storage.Type)!.Value; // known: every storage was checked above
            if (t.Shape.Length != t.Stride.Length || t.Shape.Any(d => d < 0) || t.Stride.Any(s => s < 0) || t.Offset < 0)
                throw Refuse(Name(t), $"has a malformed shape [{string.Join(",", t.Shape)}], strides [{string.Join(",", t.Stride)}] or offset {t.Offset}");
            long elements = t.Shape.Aggregate(1L, Multiply);
            long bytes = Multiply(elements, size);
            // One past the last element the view reaches: the view must lie within the storage.
            long reach = elements == 0 ? 0 : t.Shape.Zip(t.Stride).Aggregate(Add(t.Offset, 1), (sum, ds) => Add(sum, Multiply(ds.First - 1, ds.Second)));
            if (reach > t.Storage.Elements)
                throw Refuse(Name(t), $"claims shape [{string.Join(",", t.Shape)}] ({bytes:N0} bytes), beyond its storage data/{t.Storage.Key} of {Multiply(t.Storage.Elements, size):N0} bytes");
            tensors = Add(tensors, bytes);
            if (tensors > WeightsFile.MaxInflatedBytes)
                throw Refuse(Name(t), $"brings the tensors to {tensors:N0} bytes, over the limit of {WeightsFile.MaxInflatedBytes:N0} for a weights file (WeightsFile.MaxInflatedBytes)");
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
