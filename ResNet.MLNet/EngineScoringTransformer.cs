using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Onnx;

namespace ResNet.MLNet;

/// <summary>Which output of the engine a column carries.</summary>
internal enum EngineColumn
{
    /// <summary>The 512-d penultimate features.</summary>
    Features,
    /// <summary>The class logits.</summary>
    Logits,
}

/// <summary>An output column of an <see cref="EngineScoringTransformer"/>.</summary>
internal sealed record EngineOutputColumn(string Name, EngineColumn Source, VectorDataViewType Type)
{
    /// <summary>The values of row <paramref name="row"/> of a batch output.</summary>
    public ReadOnlySpan<float> Of(Training.Engines.EngineOutput output, int row) =>
        Source == EngineColumn.Features ? output.FeaturesOf(row) : output.LogitsOf(row);
}

/// <summary>
/// The scoring step of the ResNet transforms: a column of 3×Resize×Resize pixel planes (0–255) in, features and/or
/// logits out, computed by the one <see cref="OnnxEngine"/> this transformer owns (its only ONNX Runtime session).
/// <see cref="Transform"/> scores in batches (<see cref="BatchScoringDataView"/>); a <c>PredictionEngine</c> row by
/// row (<see cref="GetRowToRowMapper"/>). <c>mlContext.Model.Save</c> writes the equivalent stock
/// <c>OnnxTransformer</c> over the same model (<see cref="OnnxRowBinding"/>), built for the save and disposed after it,
/// so the saved model reloads without ResNet.MLNet and gives the same outputs.
/// </summary>
internal sealed class EngineScoringTransformer : ITransformer, IDisposable
{
    private readonly OnnxEngine engine;
    private readonly byte[] model;
    private readonly string pixels, inputDescription;
    private readonly int batchSize;
    private readonly Lock batchGate = new(); // see RunBatch

    /// <param name="engine">Runs the model (owned: disposed with this transformer).</param>
    /// <param name="model">The ONNX model the engine runs, to save as an <c>OnnxTransformer</c>.</param>
    /// <param name="pixels">The pixel column the model reads.</param>
    /// <param name="outputs">The columns to add.</param>
    /// <param name="batchSize">Rows per engine call in <see cref="Transform"/>.</param>
    /// <param name="inputDescription">How errors name the user's input column, e.g. "column 'Image' (ResNet18Classifier)".</param>
    /// <param name="fileCheck">The checks on each row's image file before its pixels are read, if any.</param>
    public EngineScoringTransformer(OnnxEngine engine, byte[] model, string pixels, IReadOnlyList<EngineOutputColumn> outputs,
        int batchSize, string inputDescription, ImageFileCheck? fileCheck = null)
    {
        FileCheck = fileCheck;
        this.engine = engine;
        this.model = model;
        this.pixels = pixels;
        this.batchSize = batchSize;
        this.inputDescription = inputDescription;
        Outputs = outputs;
    }

    /// <summary>The columns this transformer adds, in order.</summary>
    public IReadOnlyList<EngineOutputColumn> Outputs { get; }

    /// <summary>How errors name the user's input column, e.g. "column 'Image' (ResNet18Classifier)".</summary>
    public string InputDescription => inputDescription;

    /// <summary>The checks on each row's image file before its pixels are read (in-process only: not saved), or null.</summary>
    public ImageFileCheck? FileCheck { get; }

    /// <summary>
    /// The error for a row whose image could not be read (checked, decoded or resized upstream): the row, its text
    /// columns (<paramref name="described"/>, e.g. " (ImagePath = 'a.jpg')") and what went wrong.
    /// </summary>
    public InvalidOperationException CannotRead(long row, string described, Exception e) =>
        new($"Cannot read the image of row {row}{described} in {inputDescription}: {e.Innermost().Message} " +
            "Nothing is skipped silently: remove or fix the file, or filter such rows out before this transform.", e);

    /// <summary>Floats per input row.</summary>
    public int RowLength => engine.Card.Preprocessing.ResizedLength;

    /// <summary>Runs <paramref name="rows"/> rows of <see cref="RowLength"/> pixel values.</summary>
    public Training.Engines.EngineOutput Run(ReadOnlySpan<float> input, int rows)
    {
        try
        {
            return engine.RunResized(input, rows);
        }
        catch (ObjectDisposedException e)
        {
            // The usual way here: ML.NET's PredictionEngine disposes the model it was made from (OwnsTransformer is true by default).
            throw new ObjectDisposedException(
                $"{inputDescription}: this model was disposed and can no longer score. A PredictionEngine disposes the model it was created from " +
                "when the engine is disposed (PredictionEngineOptions.OwnsTransformer is true by default). To make several engines from one model " +
                "(one per thread, or a pool), create each with ml.Model.CreatePredictionEngine<TIn, TOut>(model, new PredictionEngineOptions { OwnsTransformer = false }) " +
                "and dispose the model once when all of them are done.", e);
        }
    }

    /// <summary>
    /// Runs one batch of a <see cref="BatchScoringDataView"/> cursor, one batch at a time per transformer. ML.NET reads
    /// a view through one cursor per core (its parallel cursor sets), so batches of several cursors arrive at once; each
    /// already runs on every core (ONNX Runtime's intra-op threads), and two at once left those threads spin-waiting on
    /// each other (12 % of the CPU time in <c>perf</c>). One at a time, the other cursors go on decoding their next rows
    /// meanwhile: fp32 over 500 JPEGs on a 2-core AMD EPYC (Zen 4), 47.5–49.3 → 55.5–56.6 img/s (docs/mlnet.md). A
    /// <c>PredictionEngine</c>'s rows (<see cref="Run"/>) are not serialised: callers on several threads share the cores.
    /// </summary>
    public Training.Engines.EngineOutput RunBatch(ReadOnlySpan<float> input, int rows)
    {
        lock (batchGate) return Run(input, rows);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckPixels(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (var output in Outputs)
            builder.AddColumn(output.Name, output.Type);
        return builder.ToSchema();
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        CheckPixels(input.Schema);
        return new BatchScoringDataView(input, this, pixels, batchSize, inputDescription);
    }

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new EngineRowMapper(this, inputSchema, GetOutputSchema(inputSchema), pixels);

    /// <summary>Saves the equivalent stock <c>OnnxTransformer</c> (see the class remarks).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        var ml = new MLContext();
        var bound = OnnxRowBinding.Bind(model, pixels, Outputs.ToDictionary(o => o.Source == EngineColumn.Features ? OnnxNames.Features : OnnxNames.Logits, o => o.Name));
        // The estimator only looks at the schema of the data it is fitted on: an empty view with the pixel column.
        var definition = SchemaDefinition.Create(typeof(PixelRow));
        definition[0].ColumnName = pixels;
        definition[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, RowLength);
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<PixelRow>(), definition);
        // The saved form holds the model bytes and column names only, so the CPU session built here is enough.
        using var stock = ml.Transforms.ApplyOnnxModel(Outputs.Select(o => o.Name).ToArray(), [pixels], new MemoryStream(bound)).Fit(empty);
        var types = stock.GetOutputSchema(empty.Schema);
        foreach (var output in Outputs)
            if (!types[output.Name].Type.Equals(output.Type))
                throw new InvalidOperationException(
                    $"OnnxTransformer types '{output.Name}' as {types[output.Name].Type}, the batch scorer as {output.Type}: this ML.NET version binds ONNX outputs differently; ResNet.MLNet is built for Microsoft.ML 5.0.1.");
        ((ICanSaveModel)stock).Save(ctx);
    }

    private void CheckPixels(DataViewSchema schema)
    {
        if (schema.GetColumnOrNull(pixels) is not { Type: VectorDataViewType { ItemType: NumberDataViewType } v } || v.Size != RowLength)
            throw new ArgumentOutOfRangeException(nameof(schema), $"{inputDescription}: the pixel column '{pixels}' of {RowLength} Single values is missing.");
    }

    /// <inheritdoc/>
    public void Dispose() => engine.Dispose();

    private sealed class PixelRow
    {
        public float[] Pixels { get; set; } = [];
    }
}
