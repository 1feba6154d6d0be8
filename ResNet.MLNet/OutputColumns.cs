using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Weights;

namespace ResNet.MLNet;

/// <summary>The schema shape the ResNet estimators promise: the input's columns plus Features, Score and PredictedLabel.</summary>
internal static class OutputColumns
{
    public static SchemaShape Add(SchemaShape input, ResNetOutputs outputs, ModelCard card)
    {
        var builder = new DataViewSchema.Builder();
        if (outputs.Features is not null)
            builder.AddColumn(outputs.Features, new VectorDataViewType(NumberDataViewType.Single, card.Architecture.FeatureDim));
        var names = card.Labels;
        var namesType = new VectorDataViewType(TextDataViewType.Instance, names.Length);
        ValueGetter<VBuffer<ReadOnlyMemory<char>>> getNames = (ref VBuffer<ReadOnlyMemory<char>> dst) =>
            dst = new VBuffer<ReadOnlyMemory<char>>(names.Length, names.Select(n => n.AsMemory()).ToArray());
        if (outputs.Score is not null)
        {
            var slotNames = new DataViewSchema.Annotations.Builder();
            slotNames.Add("SlotNames", namesType, getNames);
            builder.AddColumn(outputs.Score, new VectorDataViewType(NumberDataViewType.Single, names.Length), slotNames.ToAnnotations());
        }
        if (outputs.PredictedLabel is not null)
        {
            var keyValues = new DataViewSchema.Annotations.Builder();
            keyValues.Add(MLNetInternals.AnnotationKeyValues, namesType, getNames);
            builder.AddColumn(outputs.PredictedLabel, new KeyDataViewType(typeof(uint), names.Length), keyValues.ToAnnotations());
        }
        var added = MLNetInternals.ShapeOf(builder.ToSchema());
        var replaced = added.Select(c => c.Name).ToHashSet();
        return new SchemaShape(input.Where(c => !replaced.Contains(c.Name)).Concat(added));
    }
}
