using Microsoft.ML;
using Microsoft.ML.Data;

namespace ResNet.MLNet;

/// <summary>
/// What the ResNet18 transformers share. <see cref="Transform"/> scores in batches, a <c>PredictionEngine</c>
/// (<see cref="GetRowToRowMapper"/>) row by row, both through the transformer's one ONNX Runtime session (ResNet.Training's
/// <c>OnnxEngine</c>). <c>mlContext.Model.Save</c> writes the equivalent stock ML.NET transformers (<c>OnnxTransformer</c>
/// on the same ONNX model), so a saved model reloads — as those stock transformers — in any application that references
/// Microsoft.ML, Microsoft.ML.ImageAnalytics, Microsoft.ML.OnnxTransformer and Microsoft.ML.OnnxRuntime, and gives the same outputs.
/// </summary>
public abstract class ResNet18TransformerBase : ITransformer, IDisposable
{
    private readonly ResNetScoring scoring;

    private protected ResNet18TransformerBase(ResNetScoring scoring) => this.scoring = scoring;

    /// <summary>The network this transformer runs.</summary>
    public ResNet18Weights Weights => scoring.Weights;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => scoring.Kind != ImageInputKind.Bytes;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => scoring.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => scoring.Chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => scoring.Transform(input);

    /// <summary>Saves the equivalent stock transformers (see the class remarks).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => scoring.Chain.Save(ctx);

    /// <inheritdoc/>
    public void Dispose()
    {
        scoring.Dispose();
        GC.SuppressFinalize(this);
    }
}
