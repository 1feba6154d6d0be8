using System.Buffers.Binary;

namespace ResNet.Training.Imaging;

/// <summary>
/// Reads an encoded image's width and height from its header, without decoding: JPEG (the first start-of-frame
/// segment), PNG (IHDR), BMP, GIF (logical screen) and WebP (VP8, VP8L, VP8X). <see cref="ImageLimits"/> uses it to
/// refuse an image before the decoder allocates its pixels.
/// </summary>
public static class ImageHeader
{
    /// <summary>The image's size, or null when the bytes are not one of the formats above (or end inside the header).</summary>
    public static (long Width, long Height)? ReadSize(ReadOnlySpan<byte> file)
    {
        if (file.Length >= 24 && file[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) && file[12..16].SequenceEqual("IHDR"u8))
            return (BinaryPrimitives.ReadUInt32BigEndian(file[16..]), BinaryPrimitives.ReadUInt32BigEndian(file[20..]));
        if (file.Length >= 4 && file[0] == 0xFF && file[1] == 0xD8) return Jpeg(file);
        if (file.Length >= 26 && file[0] == 'B' && file[1] == 'M') return Bmp(file);
        if (file.Length >= 10 && (file.StartsWith("GIF87a"u8) || file.StartsWith("GIF89a"u8)))
            return (BinaryPrimitives.ReadUInt16LittleEndian(file[6..]), BinaryPrimitives.ReadUInt16LittleEndian(file[8..]));
        if (file.Length >= 30 && file.StartsWith("RIFF"u8) && file[8..12].SequenceEqual("WEBP"u8)) return WebP(file);
        return null;
    }

    private static (long, long)? Jpeg(ReadOnlySpan<byte> file)
    {
        int pos = 2;
        while (pos + 4 <= file.Length)
        {
            if (file[pos] != 0xFF) { pos++; continue; } // stray bytes between segments, as libjpeg tolerates
            byte marker = file[pos + 1];
            if (marker == 0xFF) { pos++; continue; } // fill byte
            if (marker is 0x01 or >= 0xD0 and <= 0xD7) { pos += 2; continue; } // no length field
            int length = BinaryPrimitives.ReadUInt16BigEndian(file[(pos + 2)..]);
            bool startOfFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (startOfFrame)
                return pos + 9 <= file.Length
                    ? (BinaryPrimitives.ReadUInt16BigEndian(file[(pos + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(file[(pos + 5)..]))
                    : null;
            if (marker is 0xDA or 0xD9) return null; // scan data or end before any frame header
            pos += 2 + length;
        }
        return null;
    }

    private static (long, long)? Bmp(ReadOnlySpan<byte> file)
    {
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(file[14..]);
        if (headerSize == 12) // OS/2 core header: 16-bit sides
            return (BinaryPrimitives.ReadUInt16LittleEndian(file[18..]), BinaryPrimitives.ReadUInt16LittleEndian(file[20..]));
        return (Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(file[18..])), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(file[22..])));
    }

    private static (long, long)? WebP(ReadOnlySpan<byte> file)
    {
        var chunk = file[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
            return (1 + Read24(file[24..]), 1 + Read24(file[27..]));
        if (chunk.SequenceEqual("VP8L"u8))
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(file[21..]);
            return (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF));
        }
        if (chunk.SequenceEqual("VP8 "u8))
            return (BinaryPrimitives.ReadUInt16LittleEndian(file[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(file[28..]) & 0x3FFF);
        return null;
    }

    private static long Read24(ReadOnlySpan<byte> b) => b[0] | (b[1] << 8) | (b[2] << 16);
}
