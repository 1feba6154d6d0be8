using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.RegularExpressions;
using ResNet.Training.Imaging;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary>
/// Bounded memory on hostile files: an image that claims more pixels than the limit is refused from its header, before
/// the decoder allocates them, and the whole program's peak memory (measured by the kernel) stays under 1.5 GB.
/// </summary>
public sealed partial class HostileInputTests(CliFixture fixture) : IClassFixture<CliFixture>, IDisposable
{
    private const long PeakLimitKb = 1_500_000;
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    /// <summary>
    /// A valid 1-bit grayscale PNG of <paramref name="side"/>² black pixels: a few hundred KB on disk, 4 × side² bytes
    /// once decoded (1.6 GB for 20000², and the decoder's copies come on top).
    /// </summary>
    internal static byte[] DecompressionBomb(int side)
    {
        using var file = new MemoryStream();
        file.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)side);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)side);
        header[8] = 1; // bit depth; colour type 0 (grayscale), deflate, filter 0, no interlace
        Chunk(file, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            {
                var row = new byte[1 + (side + 7) / 8]; // filter byte 0, then zero bits
                for (int y = 0; y < side; y++) z.Write(row);
            }
            Chunk(file, "IDAT", raw.ToArray());
        }
        Chunk(file, "IEND", []);
        return file.ToArray();
    }

    private static void Chunk(Stream file, string type, byte[] data)
    {
        var head = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head.AsSpan(4));
        file.Write(head);
        file.Write(data);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32([.. head.AsSpan(4).ToArray(), .. data]));
        file.Write(crc);
    }

    /// <summary>PNG's CRC-32 (ISO 3309), bit by bit: only a few small chunks are summed.</summary>
    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>Runs the program under python/peak_rss.py: exit status, output, and the peak resident memory in KB.</summary>
    private static (int Code, string Output, long PeakKb) Measure(params string[] args)
    {
        using var run = ProgramProcess.Start(args, PythonReference.Interpreter,
            [Path.Combine(TestPaths.RepoRoot, "ResNet.Tests", "python", "peak_rss.py")]);
        int code = run.WaitForExit(TimeSpan.FromMinutes(3));
        var match = PeakPattern().Match(run.Output);
        Assert.True(match.Success, $"no peak memory reported:\n{run.Output}");
        return (code, run.Output, long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"peak_rss_kb (\d+)")]
    private static partial Regex PeakPattern();

    [Fact]
    public void A_decompression_bomb_png_is_refused_or_skipped_from_its_header_and_memory_stays_bounded()
    {
        string dir = scratch.New();
        string bomb = Path.Combine(dir, "bomb.png");
        File.WriteAllBytes(bomb, DecompressionBomb(20000));
        string good = Path.Combine(dir, "good.png");
        File.Copy(Path.Combine(fixture.Images, "good", "gray.png"), good);

        var (code, output, peak) = Measure("featurize", "--weights", fixture.Weights, "--images", bomb, "--output", Path.Combine(dir, "f.csv"), "--on-error", "fail");
        Assert.True(code == 1, $"exit {code}:\n{output}");
        Assert.Contains("bomb.png: 20000×20000 = 400,000,000 pixels is over the limit of 89,478,485", output);
        Assert.True(peak < PeakLimitKb, $"peak memory {peak} KB");

        (code, output, peak) = Measure("featurize", "--weights", fixture.Weights, "--images", dir, "--output", Path.Combine(dir, "f.csv"));
        Assert.True(code == 0, $"exit {code}:\n{output}");
        Assert.Contains("skipped", output);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "f.csv")).Length); // header and the good image
        Assert.True(peak < PeakLimitKb, $"peak memory {peak} KB");
    }

    [Fact]
    public void A_zip_bomb_weights_file_is_refused_before_inflating_and_memory_stays_bounded()
    {
        // The fixture's weights with one storage replaced by 1 GiB of zeros: about 1 MB on disk.
        string bomb = Path.Combine(scratch.New(), "bomb.pt");
        using (var source = ZipFile.OpenRead(fixture.Weights))
        using (var target = ZipFile.Open(bomb, ZipArchiveMode.Create))
            foreach (var entry in source.Entries)
            {
                using var stream = target.CreateEntry(entry.FullName, CompressionLevel.Optimal).Open();
                if (entry.FullName.EndsWith("/data/0", StringComparison.Ordinal))
                {
                    var zeros = new byte[1 << 20];
                    for (int i = 0; i < 1024; i++) stream.Write(zeros);
                }
                else
                {
                    using var input = entry.Open();
                    input.CopyTo(stream);
                }
            }
        Assert.True(new FileInfo(bomb).Length < 50 << 20, $"the bomb takes {new FileInfo(bomb).Length} bytes");

        var (code, output, peak) = Measure("export", "--weights", bomb, "--output", Path.Combine(scratch.New(), "bomb.onnx"));
        Assert.True(code == 1, $"exit {code}:\n{output}");
        Assert.Contains("inflate to", output);
        Assert.Contains("over the limit of 537 MB", output);
        Assert.True(peak < PeakLimitKb, $"peak memory {peak} KB");
    }

    /// <summary>
    /// <paramref name="source"/>'s state dict (a torch.save zip) with one more float tensor set in it, as torch.save writes
    /// one: <paramref name="key"/> (a key already there is replaced) of <paramref name="shape"/> (contiguous strides) over
    /// a storage that claims <paramref name="storageElements"/> elements, whose archive entry <c>data/extra</c> holds
    /// <paramref name="dataBytes"/> zero bytes (a few KB once compressed, however many it declares).
    /// </summary>
    internal static void WithTensor(string source, string target, string key, long[] shape, long storageElements, long dataBytes)
    {
        using var input = ZipFile.OpenRead(source);
        using var output = ZipFile.Open(target, ZipArchiveMode.Create);
        string prefix = input.Entries.First(e => e.Name == "data.pkl").FullName[..^"data.pkl".Length];
        foreach (var entry in input.Entries)
        {
            using var stream = output.CreateEntry(entry.FullName, CompressionLevel.Fastest).Open();
            using var original = entry.Open();
            if (entry.Name != "data.pkl")
            {
                original.CopyTo(stream);
                continue;
            }
            using var pickle = new MemoryStream();
            original.CopyTo(pickle);
            var bytes = pickle.ToArray();
            Assert.Equal((byte)'.', bytes[^1]); // STOP, with the state dict on top of the stack
            stream.Write(bytes.AsSpan(0, bytes.Length - 1));
            stream.Write(TensorEntry(key, shape, storageElements));
            stream.WriteByte((byte)'s'); // SETITEM
            stream.WriteByte((byte)'.');
        }
        using var data = output.CreateEntry(prefix + "data/extra", CompressionLevel.Fastest).Open();
        var zeros = new byte[1 << 20];
        for (long left = dataBytes; left > 0; left -= zeros.Length) data.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
    }

    /// <summary>Pickle opcodes (protocol 2) for key → _rebuild_tensor_v2(storage 'extra', 0, shape, strides, False, OrderedDict()).</summary>
    private static byte[] TensorEntry(string key, long[] shape, long storageElements)
    {
        var p = new List<byte>();
        void Text(string text)
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(text);
            p.Add((byte)'X');
            p.AddRange(BitConverter.GetBytes(utf8.Length));
            p.AddRange(utf8);
        }
        void Global(string module, string name) => p.AddRange(System.Text.Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));
        void Int(long value)
        {
            // As Python's pickler writes them: BININT when the value fits in 32 bits, LONG1 beyond.
            if (value is >= int.MinValue and <= int.MaxValue)
            {
                p.Add((byte)'J');
                p.AddRange(BitConverter.GetBytes((int)value));
                return;
            }
            p.Add(0x8A);
            p.Add(8);
            p.AddRange(BitConverter.GetBytes(value));
        }
        void Tuple(IEnumerable<long> values)
        {
            p.Add((byte)'(');
            foreach (long v in values) Int(v);
            p.Add((byte)'t');
        }
        var strides = new long[shape.Length];
        long stride = 1;
        for (int i = shape.Length - 1; i >= 0; stride *= shape[i--]) strides[i] = stride;
        Text(key);
        Global("torch._utils", "_rebuild_tensor_v2");
        p.Add((byte)'(');
        p.Add((byte)'(');
        Text("storage");
        Global("torch", "FloatStorage");
        Text("extra");
        Text("cpu");
        Int(storageElements);
        p.Add((byte)'t');
        p.Add((byte)'Q'); // BINPERSID
        Int(0);
        Tuple(shape);
        Tuple(strides);
        p.Add(0x89); // NEWFALSE
        Global("collections", "OrderedDict");
        p.Add((byte)')');
        p.Add((byte)'R');
        p.Add((byte)'t');
        p.Add((byte)'R');
        return [.. p];
    }

    [Fact]
    public void A_tensor_that_claims_terabytes_is_refused_naming_the_file_and_the_key_and_memory_stays_bounded()
    {
        string huge = Path.Combine(scratch.New(), "huge.pt");
        WithTensor(fixture.Weights, huge, "fc.weight", [1024, 1024, 1024, 1024], 16, 64);

        var (code, output, peak) = Measure("export", "--weights", huge, "--output", Path.Combine(scratch.New(), "huge.onnx"));
        Assert.True(code == 1, $"exit {code}:\n{output}");
        Assert.Contains("huge.pt: refused: tensor 'fc.weight' claims shape [1024,1024,1024,1024] (4,398,046,511,104 bytes), beyond its storage data/extra of 64 bytes", output);
        Assert.DoesNotContain("frame #", output); // no libtorch stack trace
        Assert.True(peak < PeakLimitKb, $"peak memory {peak} KB");
    }

    [Fact]
    public void Keys_that_do_not_fit_the_network_are_refused_before_the_tensors_are_inflated()
    {
        // 400 MB of zeros under a key the network lacks: within the archive limit, a few hundred KB on disk.
        string dir = scratch.New();
        string extra = Path.Combine(dir, "extra.pt");
        WithTensor(fixture.Weights, extra, "extra", [100_000_000], 100_000_000, 400_000_000);
        File.Copy(ModelCard.PathFor(fixture.Weights), ModelCard.PathFor(extra));

        var (code, output, baseline) = Measure("export", "--weights", fixture.Weights, "--output", Path.Combine(dir, "ok.onnx"));
        Assert.True(code == 0, $"exit {code}:\n{output}");
        (code, output, long peak) = Measure("export", "--weights", extra, "--output", Path.Combine(dir, "extra.onnx"));
        Assert.True(code == 1, $"exit {code}:\n{output}");
        Assert.Contains("extra.pt does not fit a ResNet-18", output);
        Assert.Contains("unexpected keys (1): extra", output);
        // Inflating the tensor would take 400 MB twice (the bytes, then the tensor); refusing it from the pickle takes none.
        Assert.True(peak < baseline + 150_000, $"peak memory {peak} KB, a valid export's {baseline} KB");
    }

    [Fact]
    public void The_library_refuses_an_oversized_image_before_decoding_and_the_limit_can_be_set_per_call()
    {
        var bomb = DecompressionBomb(10000);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.FromBytes(bomb, "bomb.png"));
        Assert.Contains("100,000,000 pixels is over the limit", e.Message);
        string small = Path.Combine(fixture.Images, "good", "gray.png"); // 48×40
        Assert.Contains("over the limit of 1,000", Assert.Throws<ImageDecodeException>(() => ImageDecoder.FromFile(small, maxPixels: 1000)).Message);
        Assert.Equal(48, ImageDecoder.FromFile(small, maxPixels: 48 * 40).Width);
    }

    [Fact]
    public void The_command_line_pixel_limit_is_an_option()
    {
        string csv = Path.Combine(scratch.New(), "f.csv");
        var run = CliRunner.Run("featurize", "--weights", fixture.Weights, "--images", Path.Combine(fixture.Images, "good", "gray.png"),
            "--output", csv, "--on-error", "fail", "--max-image-pixels", "1000");
        Assert.True(run.ExitCode == 1, run.Error);
        Assert.Contains("over the limit of 1,000; raise it with --max-image-pixels", run.Error);
    }

    [Theory]
    [InlineData("good/rgb.jpg", 48, 40)]
    [InlineData("good/progressive.jpg", 48, 40)]
    [InlineData("good/gray.png", 48, 40)]
    [InlineData("good/rgb.bmp", 48, 40)]
    public void Header_sizes_match_the_decoded_sizes(string file, int width, int height)
    {
        var bytes = File.ReadAllBytes(Path.Combine(fixture.Images, file));
        Assert.Equal(((long)width, (long)height), ImageHeader.ReadSize(bytes)!.Value);
        var image = ImageDecoder.FromBytes(bytes);
        Assert.Equal((width, height), ((long)image.Width, (long)image.Height));
    }
}
