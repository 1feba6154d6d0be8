using System.Buffers.Binary;

namespace ResNet.Training.Imaging;

/// <summary>
/// Finds truncated JPEG, PNG and BMP files. SkiaSharp decodes a truncated file without complaint (the missing rows
/// come out grey), which would silently feed damaged images to the network, so the structure is walked first:
/// a JPEG must reach its end-of-image marker (FF D9) through its segments and entropy-coded data, a PNG its IEND
/// chunk, a BMP must hold all the pixel rows its header promises. Bytes after the end (e.g. a motion photo's video)
/// are allowed, and embedded thumbnails do not count as the end because segments are skipped by their lengths.
/// </summary>
public static class ImageIntegrity
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Why the encoded image is incomplete, or null when it is complete or not a JPEG/PNG/BMP.</summary>
    public static string? FindTruncation(ReadOnlySpan<byte> file)
    {
        if (file.Length >= 2 && file[0] == 0xFF && file[1] == 0xD8) return CheckJpeg(file);
        if (file.StartsWith(PngSignature)) return CheckPng(file);
        if (file.Length >= 2 && file[0] == 'B' && file[1] == 'M') return CheckBmp(file);
        return null;
    }

    private static string? CheckJpeg(ReadOnlySpan<byte> file)
    {
        const string truncated = "truncated JPEG: the file ends before its end-of-image marker (FF D9).";
        int pos = 2;
        while (true)
        {
            // Find the next marker; stray bytes between segments are tolerated, as libjpeg does.
            int ff = file[pos..].IndexOf((byte)0xFF);
            if (ff < 0) return truncated;
            pos += ff;
            while (pos < file.Length && file[pos] == 0xFF) pos++; // fill bytes
            if (pos >= file.Length) return truncated;
            byte marker = file[pos++];
            if (marker == 0xD9) return null; // EOI
            if (marker == 0x00 || marker == 0x01 || marker is >= 0xD0 and <= 0xD7) continue; // no length field
            if (pos + 2 > file.Length) return truncated;
            int length = BinaryPrimitives.ReadUInt16BigEndian(file[pos..]);
            if (length < 2 || pos + length > file.Length) return truncated;
            pos += length;
            if (marker != 0xDA) continue;
            // Entropy-coded data after SOS: runs until a marker other than a stuffed FF 00 or a restart FF D0–D7.
            while (true)
            {
                int next = file[pos..].IndexOf((byte)0xFF);
                if (next < 0 || pos + next + 1 >= file.Length) return truncated;
                pos += next;
                byte after = file[pos + 1];
                if (after == 0x00 || after == 0xFF || after is >= 0xD0 and <= 0xD7) { pos += after == 0xFF ? 1 : 2; continue; }
                break;
            }
        }
    }

    private static string? CheckPng(ReadOnlySpan<byte> file)
    {
        int pos = PngSignature.Length;
        while (pos + 8 <= file.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(file[pos..]);
            var type = file.Slice(pos + 4, 4);
            if (pos + 12 + length > file.Length) break;
            if (type.SequenceEqual("IEND"u8)) return null;
            pos += 12 + (int)length;
        }
        return "truncated PNG: the file ends before its IEND chunk.";
    }

    private static string? CheckBmp(ReadOnlySpan<byte> file)
    {
        if (file.Length < 34) return "truncated BMP: the file ends inside its header.";
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(file[14..]);
        if (headerSize < 40) return null; // OS/2 headers: too rare to check
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(file[10..]);
        long width = BinaryPrimitives.ReadInt32LittleEndian(file[18..]);
        long height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(file[22..]));
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(file[28..]);
        uint compression = BinaryPrimitives.ReadUInt32LittleEndian(file[30..]);
        if (compression is not (0 or 3 or 6)) return null; // run-length and embedded JPEG/PNG: sizes vary
        long rowBytes = (width * bits + 31) / 32 * 4;
        return offset + rowBytes * height > file.Length
            ? $"truncated BMP: {file.Length} bytes, but its {width}×{height} pixels need {offset + rowBytes * height}."
            : null;
    }
}
