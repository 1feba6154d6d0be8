using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ResNet.Training.Imaging;

namespace ResNet.MLNet;

/// <summary>
/// Appends an <see cref="MLImage"/> column decoded from a column of encoded image bytes (what <c>LoadRawImageBytes</c>
/// gives). ML.NET 5's <c>LoadImages</c> only reads paths, so this is how bytes reach the stock <c>ResizeImages</c>.
/// In process only: a saved model cannot hold it (ML.NET has no stock transform that decodes bytes).
/// </summary>
internal sealed class ImageBytesDataView(IDataView source, string bytesColumn, string imageColumn, string component) : IDataView
{
    private readonly IDataView source = source;
    private readonly string component = component;
    private readonly int bytesIndex = source.Schema[bytesColumn].Index;

    /// <summary>The schema of the view over a source with <paramref name="source"/> schema.</summary>
    public static DataViewSchema SchemaFor(DataViewSchema source, string imageColumn)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(source);
        builder.AddColumn(imageColumn, new ImageDataViewType());
        return builder.ToSchema();
    }

    /// <inheritdoc/>
    public DataViewSchema Schema { get; } = SchemaFor(source.Schema, imageColumn);

    /// <inheritdoc/>
    public bool CanShuffle => source.CanShuffle;

    /// <inheritdoc/>
    public long? GetRowCount() => source.GetRowCount();

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var (columns, image) = Split(columnsNeeded);
        return new Cursor(this, source.GetRowCursor(columns, rand), image);
    }

    /// <inheritdoc/>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var (columns, image) = Split(columnsNeeded);
        return source.GetRowCursorSet(columns, n, rand).Select(c => (DataViewRowCursor)new Cursor(this, c, image)).ToArray();
    }

    private (List<DataViewSchema.Column>, bool) Split(IEnumerable<DataViewSchema.Column> columnsNeeded)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        bool image = needed.Contains(source.Schema.Count);
        var columns = needed.Where(i => i < source.Schema.Count).Select(i => source.Schema[i]).ToList();
        if (image && !needed.Contains(bytesIndex)) columns.Add(source.Schema[bytesIndex]);
        return (columns, image);
    }

    private sealed class Cursor(ImageBytesDataView parent, DataViewRowCursor input, bool imageActive) : DataViewRowCursor
    {
        public override DataViewSchema Schema => parent.Schema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override bool MoveNext() => input.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index < parent.source.Schema.Count ? input.IsColumnActive(parent.source.Schema[column.Index]) : imageActive;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < parent.source.Schema.Count)
                return input.GetGetter<TValue>(parent.source.Schema[column.Index]);
            if (typeof(TValue) != typeof(MLImage))
                throw new InvalidOperationException($"Column '{column.Name}' holds MLImage, not {typeof(TValue).Name}.");
            var bytesGetter = input.GetGetter<VBuffer<byte>>(parent.source.Schema[parent.bytesIndex]);
            var bytes = default(VBuffer<byte>);
            ValueGetter<MLImage> getter = (ref MLImage dst) =>
            {
                bytesGetter(ref bytes);
                string source = $"row {input.Position} of column '{parent.Schema[parent.bytesIndex].Name}' ({parent.component})";
                if (bytes.Length == 0) throw new ImageDecodeException(source, "no bytes (an empty or missing file?).");
                var encoded = bytes.DenseValues().ToArray();
                // The same gate as the command line: truncation, format and pixel limit, before decoding.
                ImageLimits.Check(encoded, source);
                dst?.Dispose();
                try
                {
                    dst = MLImage.CreateFromStream(new MemoryStream(encoded, writable: false));
                }
                catch (Exception e)
                {
                    throw new ImageDecodeException(source, "not a readable image (corrupt, truncated or an unsupported format).", e);
                }
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) input.Dispose();
            base.Dispose(disposing);
        }
    }
}
