using Microsoft.ML;
using Microsoft.ML.Data;

namespace ResNet.MLNet;

/// <summary>
/// A lazy view that appends the outputs of an <see cref="EngineScoringTransformer"/> to its source: its cursors pull up to
/// <c>batchSize</c> rows from the source cursor (keeping every active column of each row), score their pixel vectors
/// in one engine call, then serve the rows one by one. Row order, <c>Position</c>,
/// <c>Batch</c> and row ids are the source's, so shuffled, filtered and split (parallel)
/// cursors behave as they do without batching. When no output column is requested, rows stream through unbatched.
/// </summary>
internal sealed class BatchScoringDataView : IDataView
{
    private readonly IDataView source;
    private readonly EngineScoringTransformer scorer;
    private readonly int pixelsColumn;
    private readonly IReadOnlyList<EngineOutputColumn> outputs;
    private readonly int batchSize;
    private readonly string inputDescription;

    /// <param name="source">The rows, with a float vector column of <see cref="EngineScoringTransformer.RowLength"/> values.</param>
    /// <param name="scorer">Runs the model; its <see cref="EngineScoringTransformer.Outputs"/> are the columns added.</param>
    /// <param name="pixelsColumn">Name of the model's input column in <paramref name="source"/>.</param>
    /// <param name="batchSize">Rows per engine call.</param>
    /// <param name="inputDescription">How errors name the user's input column, e.g. "column 'Image'".</param>
    public BatchScoringDataView(IDataView source, EngineScoringTransformer scorer, string pixelsColumn, int batchSize, string inputDescription)
    {
        this.source = source;
        this.scorer = scorer;
        this.pixelsColumn = source.Schema[pixelsColumn].Index;
        this.batchSize = batchSize;
        this.inputDescription = inputDescription;
        outputs = scorer.Outputs;
        Schema = scorer.GetOutputSchema(source.Schema);
    }

    /// <inheritdoc/>
    public bool CanShuffle => source.CanShuffle;

    /// <inheritdoc/>
    public DataViewSchema Schema { get; }

    /// <inheritdoc/>
    public long? GetRowCount() => source.GetRowCount();

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var (sourceColumns, active, pixelsAsked) = Split(columnsNeeded);
        return new Cursor(this, source.GetRowCursor(sourceColumns, rand), sourceColumns, active, pixelsAsked);
    }

    /// <inheritdoc/>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var (sourceColumns, active, pixelsAsked) = Split(columnsNeeded);
        return source.GetRowCursorSet(sourceColumns, n, rand)
            .Select(c => (DataViewRowCursor)new Cursor(this, c, sourceColumns, active, pixelsAsked)).ToArray();
    }

    /// <summary>
    /// The source columns a cursor needs (those asked for, plus the pixels and the text columns when an output is
    /// asked for), which outputs are asked for, and whether the pixel column itself is.
    /// </summary>
    private (List<DataViewSchema.Column> Source, bool[] Outputs, bool PixelsAsked) Split(IEnumerable<DataViewSchema.Column> columnsNeeded)
    {
        int sourceCount = source.Schema.Count;
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        var active = Enumerable.Range(0, outputs.Count).Select(i => needed.Contains(sourceCount + i)).ToArray();
        var columns = needed.Where(i => i < sourceCount).Select(i => source.Schema[i]).ToList();
        if (active.Any(o => o))
        {
            columns.Add(source.Schema[pixelsColumn]);
            // Text columns (typically the image path) let an error name the row's file.
            columns.AddRange(source.Schema.Where(c => !c.IsHidden && c.Type is TextDataViewType));
        }
        return (columns.DistinctBy(c => c.Index).ToList(), active, needed.Contains(pixelsColumn));
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchScoringDataView parent;
        private readonly DataViewRowCursor input;
        private readonly bool[] activeOutputs;
        private readonly bool batching;
        // Batch state: one slot per buffered row.
        private readonly ColumnCache?[] caches;
        private readonly long[] batchIds = [];
        private readonly DataViewRowId[] rowIds = [];
        private readonly ValueGetter<DataViewRowId>? inputIdGetter;
        private readonly ValueGetter<VBuffer<float>>? pixelsGetter;
        private readonly Action? checkFile;
        private readonly float[] pixels = [];
        private VBuffer<float> pixelRow;
        private Training.Engines.EngineOutput? results;
        private int rows, slot = -1;
        private long position = -1;

        /// <param name="parent">The view.</param>
        /// <param name="input">The source cursor.</param>
        /// <param name="served">The source columns this cursor serves: those asked for, the pixels and the text columns.</param>
        /// <param name="activeOutputs">Which of the scorer's outputs were asked for.</param>
        /// <param name="servesPixels">Whether the pixel column itself was asked for (then it is cached and read from the cache).</param>
        public Cursor(BatchScoringDataView parent, DataViewRowCursor input, IReadOnlyList<DataViewSchema.Column> served, bool[] activeOutputs,
            bool servesPixels)
        {
            this.parent = parent;
            this.input = input;
            this.activeOutputs = activeOutputs;
            batching = activeOutputs.Any(o => o);
            caches = new ColumnCache?[parent.source.Schema.Count];
            if (!batching) return;
            int capacity = parent.batchSize;
            // Only the columns served are cached, not the upstream columns the source activated to compute them: a
            // cache reads its column through the column's getter, and ML.NET's image transforms recompute on every
            // call, so caching the decoded and resized images (or the pixels next to pixelsGetter) did their work twice.
            foreach (var column in served)
                if (column.Index != parent.pixelsColumn || servesPixels)
                    caches[column.Index] = ColumnCache.Create(input, column, capacity);
            batchIds = new long[capacity];
            rowIds = new DataViewRowId[capacity];
            inputIdGetter = input.GetIdGetter();
            // Asked-for pixels are read once, into their cache (ReadRow captures row `rows` before reading the pixels).
            pixelsGetter = servesPixels
                ? caches[parent.pixelsColumn]!.Getter<VBuffer<float>>(() => rows)
                : input.GetGetter<VBuffer<float>>(parent.source.Schema[parent.pixelsColumn]);
            checkFile = parent.scorer.FileCheck?.Checker(input);
            pixels = new float[capacity * parent.scorer.RowLength];
        }

        public override DataViewSchema Schema => parent.Schema;
        public override long Position => batching ? position : input.Position;
        public override long Batch => batching ? (slot >= 0 && slot < rows ? batchIds[slot] : 0) : input.Batch;

        public override bool MoveNext()
        {
            if (!batching)
                return input.MoveNext();
            if (++slot >= rows)
            {
                Fill();
                slot = 0;
                if (rows == 0) return false;
            }
            position++;
            return true;
        }

        private void Fill()
        {
            rows = 0;
            int length = parent.scorer.RowLength;
            while (rows < parent.batchSize && input.MoveNext())
            {
                batchIds[rows] = input.Batch;
                inputIdGetter!(ref rowIds[rows]);
                ReadRow(length);
                pixelRow.CopyTo(pixels.AsSpan(rows * length, length));
                rows++;
            }
            if (rows > 0)
                results = parent.scorer.RunBatch(pixels.AsSpan(0, rows * length), rows);
        }

        private void ReadRow(int length)
        {
            try
            {
                // Decoding happens here (lazily, in the image transforms upstream), so a bad file fails here.
                foreach (var cache in caches) cache?.Capture(rows);
                checkFile?.Invoke();
                pixelsGetter!(ref pixelRow);
            }
            catch (Exception e)
            {
                throw parent.scorer.CannotRead(input.Position, DescribeRow(), e);
            }
            if (pixelRow.Length != length)
                throw new InvalidOperationException(
                    $"Row {input.Position}{DescribeRow()} of {parent.inputDescription} has {pixelRow.Length} pixel values; the model takes {length}.");
        }

        private string DescribeRow()
        {
            var texts = caches.OfType<ColumnCache>().Select(c => c.Describe(rows)).Where(t => t is not null).ToList();
            return texts.Count == 0 ? "" : $" ({string.Join(", ", texts)})";
        }

        public override ValueGetter<DataViewRowId> GetIdGetter()
        {
            if (!batching) return input.GetIdGetter();
            return (ref DataViewRowId value) => value = rowIds[slot];
        }

        public override bool IsColumnActive(DataViewSchema.Column column)
        {
            int sourceCount = parent.source.Schema.Count;
            if (column.Index >= sourceCount) return activeOutputs[column.Index - sourceCount];
            return batching ? caches[column.Index] is not null : input.IsColumnActive(parent.source.Schema[column.Index]);
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int sourceCount = parent.source.Schema.Count;
            if (column.Index < sourceCount)
            {
                if (!batching) return input.GetGetter<TValue>(parent.source.Schema[column.Index]);
                var cache = caches[column.Index] ?? throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
                return cache.Getter<TValue>(() => slot);
            }
            int output = column.Index - sourceCount;
            if (!activeOutputs[output]) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");
            var source = parent.outputs[output];
            int length = source.Type.Size;
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
            {
                var editor = VBufferEditor.Create(ref dst, length);
                source.Of(results!, slot).CopyTo(editor.Values);
                dst = editor.Commit();
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
