using Microsoft.ML;
using Microsoft.ML.Data;

namespace ResNet.MLNet;

/// <summary>
/// The row-by-row form of an <see cref="EngineScoringTransformer"/>, for a <c>PredictionEngine</c>: each row's pixels
/// go through the transformer's engine as a batch of one, once per row however many outputs are read.
/// <para>
/// A <c>PredictionEngine</c> is not thread-safe, and one shared by threads could abort the process natively (the image
/// transforms upstream and ONNX Runtime inputs are per-engine state). Each row (one per engine) therefore refuses a
/// second thread that asks it to score while another is scoring, before anything upstream runs, with an
/// <see cref="InvalidOperationException"/> that names the fix. This catches overlapping calls only: a shared engine
/// stays wrong even when no call happens to overlap.
/// </para>
/// </summary>
internal sealed class EngineRowMapper : IRowToRowMapper
{
    private readonly EngineScoringTransformer parent;
    private readonly string pixels;

    public EngineRowMapper(EngineScoringTransformer parent, DataViewSchema inputSchema, DataViewSchema outputSchema, string pixels)
    {
        this.parent = parent;
        this.pixels = pixels;
        InputSchema = inputSchema;
        OutputSchema = outputSchema;
    }

    /// <inheritdoc/>
    public DataViewSchema InputSchema { get; }

    /// <inheritdoc/>
    public DataViewSchema OutputSchema { get; }

    /// <inheritdoc/>
    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var columns = dependingColumns.ToList();
        var needed = columns.Where(c => c.Index < InputSchema.Count).Select(c => InputSchema[c.Index]).ToList();
        if (columns.Any(c => c.Index >= InputSchema.Count))
        {
            needed.Add(InputSchema[pixels]);
            // Text columns (typically the image path) let an error name the row's file; the file check reads the path.
            needed.AddRange(TextColumns);
        }
        return needed.DistinctBy(c => c.Index);
    }

    private IEnumerable<DataViewSchema.Column> TextColumns => InputSchema.Where(c => !c.IsHidden && c.Type is TextDataViewType);

    /// <inheritdoc/>
    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row(EngineRowMapper mapper, DataViewRow input, HashSet<int> active) : DataViewRow
    {
        private readonly int sourceCount = mapper.InputSchema.Count;
        private ValueGetter<VBuffer<float>>? pixelsGetter;
        private Action? checkFile;
        private VBuffer<float> pixelRow;
        private Training.Engines.EngineOutput? output;
        private long scored = -1;
        private int busy; // 1 while a thread is scoring this row

        public override DataViewSchema Schema => mapper.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index < sourceCount ? input.IsColumnActive(mapper.InputSchema[column.Index]) : active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < sourceCount) return input.GetGetter<TValue>(mapper.InputSchema[column.Index]);
            if (!active.Contains(column.Index)) throw new InvalidOperationException($"Column '{column.Name}' is not active in this row.");
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");
            var source = mapper.parent.Outputs[column.Index - sourceCount];
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
            {
                var values = source.Of(Score(), 0);
                var editor = VBufferEditor.Create(ref dst, values.Length);
                values.CopyTo(editor.Values);
                dst = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        /// <summary>" (Name = 'value', …)" for the row's active text columns (the image path, typically), or "".</summary>
        private string DescribeRow()
        {
            var texts = mapper.TextColumns.Where(input.IsColumnActive).Select(c =>
            {
                ReadOnlyMemory<char> value = default;
                input.GetGetter<ReadOnlyMemory<char>>(c)(ref value);
                return $"{c.Name} = '{value}'";
            }).ToList();
            return texts.Count == 0 ? "" : $" ({string.Join(", ", texts)})";
        }

        private Training.Engines.EngineOutput Score()
        {
            if (Interlocked.Exchange(ref busy, 1) == 1)
                throw new InvalidOperationException(
                    $"{mapper.parent.InputDescription}: two threads are using one PredictionEngine at once, and a PredictionEngine is not thread-safe. " +
                    "Give each thread its own engine, all created from one model with new PredictionEngineOptions { OwnsTransformer = false }, " +
                    "or take them from a pool (Microsoft.Extensions.ObjectPool); see docs/mlnet.md, 'Predicting from many threads'.");
            try
            {
                if (scored == input.Position && output is not null) return output;
                pixelsGetter ??= input.GetGetter<VBuffer<float>>(mapper.InputSchema[mapper.pixels]);
                try
                {
                    // Decoding happens here (lazily, in the image transforms upstream), so a bad file fails here.
                    if (mapper.parent.FileCheck is { } check) (checkFile ??= check.Checker(input))();
                    pixelsGetter(ref pixelRow);
                }
                catch (Exception e)
                {
                    throw mapper.parent.CannotRead(input.Position, DescribeRow(), e);
                }
                var dense = pixelRow.IsDense ? pixelRow.GetValues() : pixelRow.DenseValues().ToArray();
                output = mapper.parent.Run(dense, 1);
                scored = input.Position;
                return output;
            }
            finally
            {
                Volatile.Write(ref busy, 0);
            }
        }
    }
}
