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

    private sealed class Prediction
    {
        [VectorType(512)] public float[] Features { get; set; } = [];
    }

    /// <summary>A real JPEG cut in half: ML.NET's LoadImages decodes it without complaint, its lower half grey.</summary>
    private string TruncatedJpeg()
    {
        string jpeg = Directory.EnumerateFiles(TestPaths.Imagenette, "*.JPEG", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        string truncated = Path.Combine(scratch.New(), "truncated.jpg");
        var bytes = File.ReadAllBytes(jpeg);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        return truncated;
    }

    private IEstimator<ITransformer> LoadAndFeaturize(MLContext ml, bool checkFiles) =>
        ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options
            {
                OutputColumnName = "Features",
                InputColumnName = "Image",
                Weights = fx.Weights,
                BatchSize = 4,
                ImagePathColumn = checkFiles ? "ImagePath" : null,
            }));

    [Fact]
    public void A_truncated_jpeg_through_LoadImages_is_refused_naming_the_row_and_file_when_the_path_column_is_given()
    {
        string truncated = TruncatedJpeg();
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, [fx.TestFiles[1], truncated]);

        // What ML.NET alone does: features of a half-grey image, no error. This is why the path column is needed.
        var unchecked_ = LoadAndFeaturize(ml, checkFiles: false).Fit(data).Transform(data).GetColumn<float[]>("Features").ToArray();
        Assert.Equal(2, unchecked_.Length);

        using var model = (IDisposable)LoadAndFeaturize(ml, checkFiles: true).Fit(data);
        var e = Assert.ThrowsAny<Exception>(() => ((ITransformer)model).Transform(data).GetColumn<float[]>("Features").ToArray());
        string message = Messages(e);
        Assert.Contains("Cannot read the image of row 1", message);
        Assert.Contains($"ImagePath = '{truncated}'", message);
        Assert.Contains("truncated JPEG", message);

        using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>((ITransformer)model, new PredictionEngineOptions { OwnsTransformer = false });
        Assert.Equal(512, engine.Predict(new MLNetFixture.ImageRow { ImagePath = fx.TestFiles[1] }).Features.Length);
        message = Messages(Assert.ThrowsAny<Exception>(() => engine.Predict(new MLNetFixture.ImageRow { ImagePath = truncated })));
        Assert.Contains($"ImagePath = '{truncated}'", message);
        Assert.Contains("truncated JPEG", message);
    }

    [Fact]
    public void An_empty_file_through_a_prediction_engine_fails_naming_the_file_with_or_without_file_checks()
    {
        string empty = Path.Combine(scratch.New(), "empty.jpg");
        File.WriteAllBytes(empty, []);
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, [fx.TestFiles[1]]);
        foreach (bool checkFiles in new[] { false, true })
        {
            using var model = (IDisposable)LoadAndFeaturize(ml, checkFiles).Fit(data);
            using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>((ITransformer)model, new PredictionEngineOptions { OwnsTransformer = false });
            string message = Messages(Assert.ThrowsAny<Exception>(() => engine.Predict(new MLNetFixture.ImageRow { ImagePath = empty })));
            Assert.Contains($"ImagePath = '{empty}'", message);
            Assert.Contains("column 'Image' (ResNet18Featurizer)", message);
            if (checkFiles) Assert.Contains("the file is empty", message);
        }
    }

    [Fact]
    public void Damaged_files_are_skipped_by_filtering_the_rows_first_with_the_same_check()
    {
        // The pattern docs/mlnet.md gives for skipping: drop the rows whose file fails ImageLimits.Check, then featurize.
        static bool Damaged(MLNetFixture.ImageRow row)
        {
            try
            {
                ImageLimits.Check(File.ReadAllBytes(row.ImagePath), row.ImagePath);
                return false;
            }
            catch (Exception e) when (e is ImageDecodeException or IOException)
            {
                return true;
            }
        }
        string empty = Path.Combine(scratch.New(), "empty.jpg");
        File.WriteAllBytes(empty, []);
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, [fx.TestFiles[1], TruncatedJpeg(), fx.TestFiles[2], empty]);
        var usable = ml.Data.FilterByCustomPredicate<MLNetFixture.ImageRow>(data, Damaged);
        var model = LoadAndFeaturize(ml, checkFiles: true).Fit(usable);
        var scored = model.Transform(usable);
        Assert.Equal([fx.TestFiles[1], fx.TestFiles[2]], scored.GetColumn<string>("ImagePath").ToArray());
        Assert.All(scored.GetColumn<float[]>("Features").ToArray(), f => Assert.Equal(512, f.Length));
    }

    [Fact]
    public void A_path_column_that_is_not_text_is_refused_at_fit()
    {
        var ml = new MLContext(1);
        var data = MLNetFixture.Data(ml, [fx.TestFiles[1]]);
        var pipeline = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer(new ResNet18FeaturizerEstimator.Options { Weights = fx.Weights, ImagePathColumn = "Index" }));
        Assert.Contains("ImagePathColumn 'Index' is not a text column", Assert.ThrowsAny<ArgumentException>(() => pipeline.Fit(data)).Message);
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
