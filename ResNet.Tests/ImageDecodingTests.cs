using ResNet.Training.Imaging;

namespace ResNet.Tests;

/// <summary>
/// Every input flavour decodes to the RGB PIL gives (RGBA: composited over black, as ML.NET's premultiplied decoding
/// does); truncated files are caught although SkiaSharp would decode them.
/// </summary>
public class ImageDecodingTests(CliFixture fixture) : IClassFixture<CliFixture>
{
    [Theory]
    [InlineData("gray.png", "gray.png")]
    [InlineData("rgba.png", "rgba.png")]
    [InlineData("palette.png", "palette.png")]
    [InlineData("rgb.bmp", "rgb.bmp.png")]
    public void Grayscale_alpha_palette_and_bmp_decode_to_the_reference_rgb(string image, string reference)
    {
        using var loader = new ImageLoader(40);
        var actual = loader.Load(Path.Combine(fixture.Images, "good", image));
        var expected = loader.Load(Path.Combine(fixture.Images, "ref", reference));
        Assert.Equal(expected, actual);
        var rgb = ImageDecoder.FromFile(Path.Combine(fixture.Images, "good", image));
        var rgbExpected = ImageDecoder.FromFile(Path.Combine(fixture.Images, "ref", reference));
        Assert.Equal(rgbExpected.Width, rgb.Width);
        Assert.Equal(rgbExpected.Pixels, rgb.Pixels);
    }

    [Fact]
    public void Grayscale_gives_three_equal_planes()
    {
        using var loader = new ImageLoader(40);
        var planes = loader.Load(Path.Combine(fixture.Images, "good", "gray.jpg"));
        int plane = 40 * 40;
        Assert.Equal(planes[..plane], planes[plane..(2 * plane)]);
        Assert.Equal(planes[..plane], planes[(2 * plane)..]);
    }

    [Theory]
    [InlineData("truncated.jpg", "truncated JPEG")]
    [InlineData("truncated.png", "truncated PNG")]
    [InlineData("truncated.bmp", "truncated BMP")]
    [InlineData("empty.png", "the file is empty")]
    [InlineData("text.jpg", "not a readable image")]
    public void Damaged_files_raise_a_decode_error_naming_the_file(string file, string reason)
    {
        string path = Path.Combine(fixture.Images, "bad", file);
        using var loader = new ImageLoader(32);
        var e = Assert.Throws<ImageDecodeException>(() => loader.Load(path));
        Assert.Equal(path, e.ImageSource);
        Assert.Contains(reason, e.Message);
        Assert.Contains(reason, Assert.Throws<ImageDecodeException>(() => ImageDecoder.FromFile(path)).Message);
    }

    [Fact]
    public void Truncation_check_walks_the_structure_not_the_last_bytes()
    {
        var jpeg = File.ReadAllBytes(Path.Combine(fixture.Images, "good", "rgb.jpg"));
        Assert.Null(ImageIntegrity.FindTruncation(jpeg));
        Assert.Null(ImageIntegrity.FindTruncation(File.ReadAllBytes(Path.Combine(fixture.Images, "good", "trailer.jpg"))));
        // An end-of-image marker inside a segment (as in an EXIF thumbnail) is skipped with the segment, so it does not count.
        var insideSegment = jpeg[..10].Concat(new byte[] { 0xFF, 0xD9 }).ToArray();
        Assert.NotNull(ImageIntegrity.FindTruncation(insideSegment));
        foreach (int cut in new[] { 2, 3, 100, jpeg.Length / 2, jpeg.Length - 1 })
            Assert.NotNull(ImageIntegrity.FindTruncation(jpeg[..cut]));
        var progressive = File.ReadAllBytes(Path.Combine(fixture.Images, "good", "progressive.jpg"));
        Assert.Null(ImageIntegrity.FindTruncation(progressive)); // several scans, each walked
        Assert.NotNull(ImageIntegrity.FindTruncation(progressive[..(progressive.Length * 3 / 4)]));
        var png = File.ReadAllBytes(Path.Combine(fixture.Images, "good", "gray.png"));
        Assert.Null(ImageIntegrity.FindTruncation(png));
        Assert.NotNull(ImageIntegrity.FindTruncation(png[..(png.Length - 1)]));
        Assert.Null(ImageIntegrity.FindTruncation("GIF89a"u8));
    }
}
