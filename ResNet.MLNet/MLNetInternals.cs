using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace ResNet.MLNet;

/// <summary>
/// The places where ML.NET 5.0.1 keeps what a third-party component needs behind <c>internal</c>, reached by
/// reflection in one place so that an ML.NET upgrade breaks loudly here (and in the tests) rather than subtly elsewhere:
/// <list type="bullet">
/// <item>the <see cref="IHostEnvironment"/> behind a catalog, so that the trainer logs to the user's <c>MLContext.Log</c> (every stock
/// extension method uses it; third-party ones cannot, because <c>IInternalCatalog</c> is internal). The MLContext settings it holds
/// (<c>GpuDeviceId</c>, <c>FallbackToCpu</c>, <c>Seed</c>) are not read: they are options of the ResNet components;</item>
/// <item><c>SchemaShape.Create</c>, the only way to describe new columns in an estimator's <c>GetOutputSchema</c>;</item>
/// <item>a <see cref="MulticlassPredictionTransformer{TModel}"/> over given weights. It is the only stock ML.NET
/// component that turns a score vector into a scalar, key-typed <c>PredictedLabel</c> with class names and gives
/// <c>Score</c> its slot names, and, being stock, it saves and loads in any application that references Microsoft.ML.
/// The public transforms cannot build it: <c>OnnxTransformer</c> types every output, even a scalar, as a vector (so an
/// argmax or class name computed in the graph arrives as a 1-vector, and <c>MapValueToKey</c> then gives a vector of
/// keys, which <c>Evaluate</c> refuses), and no public transform attaches slot names to a vector; the transformer's
/// and <see cref="MaximumEntropyModelParameters"/>' constructors are internal.</item>
/// </list>
/// Each use is pinned by <c>MLNetInternalsTests</c>, which fail on an ML.NET upgrade until this file is checked again.
/// </summary>
internal static class MLNetInternals
{
    /// <summary>The environment a catalog was created by (the <see cref="MLContext"/>'s internal one).</summary>
    public static IHostEnvironment EnvironmentOf(object catalog)
    {
        var iface = typeof(TransformsCatalog).Assembly.GetType("Microsoft.ML.Data.IInternalCatalog")
            ?? throw Broken("interface Microsoft.ML.Data.IInternalCatalog");
        var property = iface.GetProperty("Environment") ?? throw Broken("IInternalCatalog.Environment");
        if (!iface.IsInstanceOfType(catalog))
            throw new ArgumentException($"{catalog.GetType().Name} is not an ML.NET catalog.", nameof(catalog));
        return (IHostEnvironment)(property.GetValue(catalog) ?? throw Broken("IInternalCatalog.Environment (null)"));
    }

    /// <summary>
    /// A multiclass prediction transformer whose model is the identity with softmax: <c>Score = softmax(logits)</c>,
    /// <c>PredictedLabel = argmax</c> as a key over <paramref name="classNames"/>, slot names of <c>Score</c> = class names.
    /// </summary>
    public static ITransformer SoftmaxHead(IHostEnvironment env, string logitsColumn, string[] classNames,
        string scoreColumn, string predictedLabelColumn)
    {
        int k = classNames.Length;
        var weights = new VBuffer<float>[k];
        for (int i = 0; i < k; i++)
        {
            var row = new float[k];
            row[i] = 1;
            weights[i] = new VBuffer<float>(k, row);
        }
        var modelCtor = typeof(MaximumEntropyModelParameters)
            .GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
            .FirstOrDefault(c => c.GetParameters() is { Length: 7 } p && p[1].ParameterType == typeof(VBuffer<float>[]))
            ?? throw Broken("MaximumEntropyModelParameters(env, VBuffer<float>[], float[], int, int, string[], stats)");
        var model = modelCtor.Invoke([env, weights, new float[k], k, k, classNames, null]);

        // The label column only carries the class names (key values) that become Score's slot names and
        // PredictedLabel's key values; it is not read when scoring.
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(logitsColumn, new VectorDataViewType(NumberDataViewType.Single, k));
        var keyValues = new DataViewSchema.Annotations.Builder();
        ValueGetter<VBuffer<ReadOnlyMemory<char>>> names = (ref VBuffer<ReadOnlyMemory<char>> dst) =>
            dst = new VBuffer<ReadOnlyMemory<char>>(k, classNames.Select(n => n.AsMemory()).ToArray());
        keyValues.Add(AnnotationKeyValues, new VectorDataViewType(TextDataViewType.Instance, k), names);
        schema.AddColumn("Label", new KeyDataViewType(typeof(uint), k), keyValues.ToAnnotations());

        var transformerCtor = typeof(MulticlassPredictionTransformer<MaximumEntropyModelParameters>)
            .GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
            .FirstOrDefault(c => c.GetParameters().Length == 7)
            ?? throw Broken("MulticlassPredictionTransformer(env, model, schema, feature, label, score, predictedLabel)");
        return (ITransformer)transformerCtor.Invoke([env, model, schema.ToSchema(), logitsColumn, "Label", scoreColumn, predictedLabelColumn]);
    }

    /// <summary>The <see cref="SchemaShape"/> of a schema (<c>SchemaShape.Create</c>, internal), for estimators' <c>GetOutputSchema</c>.</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema)
    {
        var create = typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Static, [typeof(DataViewSchema)])
            ?? throw Broken("SchemaShape.Create(DataViewSchema)");
        return (SchemaShape)create.Invoke(null, [schema])!;
    }

    /// <summary>ML.NET's annotation kind for the values of a key type.</summary>
    public const string AnnotationKeyValues = "KeyValues";

    private static InvalidOperationException Broken(string what) =>
        new($"This build of ML.NET lacks {what}, which ResNet.MLNet needs; it is built for Microsoft.ML 5.0.1.");
}
