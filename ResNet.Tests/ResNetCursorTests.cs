using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.MLNet;
using ResNet.Training.Imaging;

namespace ResNet.Tests;

/// <summary>
/// The batching cursor behind the ResNet transforms keeps ML.NET's cursor contract: row order, Position, row ids,
/// PredictionEngine, shuffled, filtered, split (parallel) and simultaneous cursors.
/// </summary>
[Collection(MLNetCollection.Name)]
public class ResNetCursorTests(MLNetFixture fx)
{
    private sealed class Prediction
    {
        [VectorType(512)] public float[] Features { get; set; } = [];
    }

    private readonly MLContext ml = new(1);
    private string[] Files => fx.TestFiles.Where((_, i) => i % 4 == 1).ToArray(); // 25 rows: batches of 7 leave 4

    private ITransformer Model(int batchSize) =>
        ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize))
            .Fit(MLNetFixture.Data(ml, Files.Take(1)));

    private static Dictionary<string, float[]> ByPath(IDataView output, DataViewRowCursor cursor)
    {
        var path = cursor.GetGetter<ReadOnlyMemory<char>>(output.Schema["ImagePath"]);
        var features = cursor.GetGetter<VBuffer<float>>(output.Schema["Features"]);
        var result = new Dictionary<string, float[]>();
        ReadOnlyMemory<char> p = default;
        VBuffer<float> f = default;
        while (cursor.MoveNext())
        {
            path(ref p);
            features(ref f);
            result.Add(p.ToString(), f.DenseValues().ToArray());
        }
        return result;
    }

    private Dictionary<string, float[]> Reference()
    {
        var output = Model(1).Transform(MLNetFixture.Data(ml, Files));
        using var cursor = output.GetRowCursor(output.Schema);
        return ByPath(output, cursor);
    }

    [Fact]
    public void Batches_keep_row_order_position_ids_and_values_and_match_PredictionEngine()
    {
        var reference = Reference();
        var data = MLNetFixture.Data(ml, Files);
        var model = Model(7);
        var output = model.Transform(data);
        using var cursor = output.GetRowCursor(output.Schema);
        var path = cursor.GetGetter<ReadOnlyMemory<char>>(output.Schema["ImagePath"]);
        var features = cursor.GetGetter<VBuffer<float>>(output.Schema["Features"]);
        var id = cursor.GetIdGetter();
        var ids = new HashSet<DataViewRowId>();
        ReadOnlyMemory<char> p = default;
        VBuffer<float> f = default;
        DataViewRowId rowId = default;
        int row = 0;
        while (cursor.MoveNext())
        {
            Assert.Equal(row, cursor.Position);
            path(ref p);
            Assert.Equal(Files[row], p.ToString());
            features(ref f);
            Assert.True(OnnxTestModels.MaxAbsDiff(reference[Files[row]], f.DenseValues().ToArray()) <= 1e-5, $"row {row} differs from batch size 1");
            id(ref rowId);
            Assert.True(ids.Add(rowId));
            row++;
        }
        Assert.Equal(Files.Length, row);

        using var engine = ml.Model.CreatePredictionEngine<MLNetFixture.ImageRow, Prediction>(model);
        foreach (var file in Files.Take(5))
        {
            var predicted = engine.Predict(new MLNetFixture.ImageRow { ImagePath = file }).Features;
            Assert.True(OnnxTestModels.MaxAbsDiff(reference[file], predicted) <= 1e-4, $"PredictionEngine differs on {file}");
        }
    }

    [Fact]
    public void Shuffled_filtered_split_and_simultaneous_cursors_see_the_right_rows()
    {
        var reference = Reference();
        var data = MLNetFixture.Data(ml, Files);
        var model = Model(6);

        var shuffled = model.Transform(ml.Data.ShuffleRows(data, seed: 3));
        using (var cursor = shuffled.GetRowCursor(shuffled.Schema))
        {
            var seen = ByPath(shuffled, cursor);
            Assert.Equal(reference.Keys.Order(), seen.Keys.Order());
            Assert.All(seen, kv => Assert.Equal(reference[kv.Key], kv.Value));
            Assert.NotEqual(Files, seen.Keys.ToArray());
        }

        var filtered = model.Transform(ml.Data.FilterRowsByColumn(data, "Index", lowerBound: 3, upperBound: 17));
        using (var cursor = filtered.GetRowCursor(filtered.Schema))
        {
            var seen = ByPath(filtered, cursor);
            Assert.Equal(Files[3..17], seen.Keys.ToArray());
            Assert.All(seen, kv => Assert.Equal(reference[kv.Key], kv.Value));
        }

        var output = model.Transform(data);
        var cursors = output.GetRowCursorSet(output.Schema, 3);
        var parts = new Dictionary<string, float[]>[cursors.Length];
        Parallel.For(0, cursors.Length, i =>
        {
            using var cursor = cursors[i];
            parts[i] = ByPath(output, cursor);
        });
        var merged = parts.SelectMany(p => p).ToDictionary();
        Assert.Equal(reference.Keys.Order(), merged.Keys.Order());
        Assert.All(merged, kv => Assert.Equal(reference[kv.Key], kv.Value));

        // Two cursors of one view, moved alternately, each see every row in order.
        using var a = output.GetRowCursor(output.Schema);
        using var b = output.GetRowCursor(output.Schema);
        var fa = a.GetGetter<VBuffer<float>>(output.Schema["Features"]);
        var fb = b.GetGetter<VBuffer<float>>(output.Schema["Features"]);
        VBuffer<float> va = default, vb = default;
        for (int i = 0; i < Files.Length; i++)
        {
            Assert.True(a.MoveNext());
            if (i % 2 == 0) Assert.True(b.MoveNext());
            fa(ref va);
            Assert.Equal(reference[Files[i]], va.DenseValues().ToArray());
        }
        while (b.MoveNext()) { }
        fb(ref vb);
        Assert.Equal(reference[Files[^1]], vb.DenseValues().ToArray());
        Assert.False(a.MoveNext());
    }

    [Fact]
    public void Each_rows_image_is_read_once()
    {
        // ML.NET's image transforms recompute on every getter call (LoadImages reads the file again), so every extra
        // read of the image or of the pixels made from it is a second decode, resize and extraction.
        var images = ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(MLNetFixture.Data(ml, Files.Take(1)))
            .Transform(MLNetFixture.Data(ml, Files));
        var counted = new GetterCountingView(images, "Image");
        var output = ml.Transforms.ResNet18Featurizer("Features", "Image", fx.Weights, batchSize: 7).Fit(counted).Transform(counted);
        var reference = Reference();
        counted.Calls = 0;
        using var cursor = output.GetRowCursor([output.Schema["Features"], output.Schema["ImagePath"]]);
        var seen = ByPath(output, cursor);
        Assert.Equal(Files.Length, counted.Calls);
        Assert.All(seen, kv => Assert.True(OnnxTestModels.MaxAbsDiff(reference[kv.Key], kv.Value) <= 1e-5, kv.Key));
        Assert.False(cursor.IsColumnActive(output.Schema["Image"]));
    }

    /// <summary>A view that passes its source through and counts the calls of one column's getters.</summary>
    private sealed class GetterCountingView(IDataView source, string column) : IDataView
    {
        public int Calls;
        private readonly string counted = column;
        public bool CanShuffle => source.CanShuffle;
        public DataViewSchema Schema => source.Schema;
        public long? GetRowCount() => source.GetRowCount();
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
            new Cursor(this, source.GetRowCursor(columnsNeeded, rand));
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];

        private sealed class Cursor(GetterCountingView parent, DataViewRowCursor input) : DataViewRowCursor
        {
            public override DataViewSchema Schema => input.Schema;
            public override long Position => input.Position;
            public override long Batch => input.Batch;
            public override bool MoveNext() => input.MoveNext();
            public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
            public override bool IsColumnActive(DataViewSchema.Column c) => input.IsColumnActive(c);

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column c)
            {
                var getter = input.GetGetter<TValue>(c);
                if (c.Name != parent.counted) return getter;
                return (ref TValue value) =>
                {
                    Interlocked.Increment(ref parent.Calls);
                    getter(ref value);
                };
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing) input.Dispose();
                base.Dispose(disposing);
            }
        }
    }
}
