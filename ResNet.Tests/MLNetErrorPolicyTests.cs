using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Imaging;

namespace ResNet.Tests;

/// <summary>
/// The ML.NET front door applies the command line's image checks: a truncated or oversized image in a raw-bytes column
/// fails naming the row and the problem instead of giving features of a half-grey image.
/// </summary>
[Collection(MLNetCollection.Name)]
public sealed class MLNetErrorPolicyTests(MLNetFixture fx) : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    private static string Messages(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Messages(e.InnerException);

    private string Featurize(params string[] files)
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, files);
        var pipeline = ml.Transforms.LoadRawImageBytes("Bytes", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Bytes", fx.Weights, batchSize: 4));
        var e = Assert.ThrowsAny<Exception>(() => pipeline.Fit(data).Transform(data).GetColumn<float[]>("Features").ToArray());
        return Messages(e);
    }

    [Fact]
    public void A_truncated_image_in_a_bytes_column_fails_naming_the_row()
    {
        string truncated = Path.Combine(scratch.New(), "truncated.png");
        var bytes = File.ReadAllBytes(fx.TestFiles[0]);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string message = Featurize(fx.TestFiles[1], truncated);
        Assert.Contains("row 1 of column 'Bytes'", message);
        Assert.Contains("truncated PNG", message);
    }

    [Fact]
    public void An_oversized_image_in_a_bytes_column_is_refused_before_decoding()
    {
        string bomb = Path.Combine(scratch.New(), "bomb.png");
        File.WriteAllBytes(bomb, HostileInputTests.DecompressionBomb(12000));
        string message = Featurize(bomb);
        Assert.Contains("row 0 of column 'Bytes'", message);
        Assert.Contains($"over the limit of {ImageLimits.MaxPixels:N0}", message);
    }
}
