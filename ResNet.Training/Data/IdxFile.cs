using System.IO.Compression;

namespace ResNet.Training.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (big-endian header: two zero bytes, a type code, the number of
/// dimensions, one 32-bit size per dimension, then the data), gzip-compressed or not: the gzip magic decides.
/// </summary>
public static class IdxFile
{
    private const byte UnsignedByte = 0x08;

    /// <summary>Reads an image file (<c>idx3-ubyte</c>): count × rows × cols bytes.</summary>
    public static (int Count, int Rows, int Cols, byte[] Pixels) ReadImages(string path)
    {
        var (dims, data) = Read(path);
        if (dims.Length != 3)
            throw new InvalidDataException($"{path}: an IDX image file has 3 dimensions (count, rows, cols), this one has {dims.Length}.");
        return (dims[0], dims[1], dims[2], data);
    }

    /// <summary>Reads a label file (<c>idx1-ubyte</c>): one byte per image.</summary>
    public static byte[] ReadLabels(string path)
    {
        var (dims, data) = Read(path);
        if (dims.Length != 1)
            throw new InvalidDataException($"{path}: an IDX label file has 1 dimension, this one has {dims.Length}.");
        return data;
    }

    /// <summary>Reads any unsigned-byte IDX file: its dimensions and its data.</summary>
    public static (int[] Dimensions, byte[] Data) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
            if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var unpacked = new MemoryStream();
                gz.CopyTo(unpacked);
                bytes = unpacked.ToArray();
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: corrupt or truncated gzip data ({e.Message}).", e);
        }
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidDataException($"{path}: not an IDX file (it must start with two zero bytes).");
        if (bytes[2] != UnsignedByte)
            throw new InvalidDataException($"{path}: IDX element type 0x{bytes[2]:x2} is not supported; only unsigned bytes (0x08) are.");
        int rank = bytes[3];
        if (rank < 1 || bytes.Length < 4 + 4 * rank)
            throw new InvalidDataException($"{path}: truncated IDX header.");
        var dims = new int[rank];
        long expected = 1;
        for (int i = 0; i < rank; i++)
        {
            int o = 4 + 4 * i;
            dims[i] = (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3];
            if (dims[i] < 0) throw new InvalidDataException($"{path}: dimension {i} is negative.");
            expected *= dims[i];
        }
        int header = 4 + 4 * rank;
        if (bytes.Length - header != expected)
            throw new InvalidDataException(
                $"{path}: the header promises {expected} bytes of data ({string.Join("×", dims)}), the file has {bytes.Length - header}; it is truncated or corrupt.");
        return (dims, bytes[header..]);
    }
}
