using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using ResNet.MLNet;

namespace ResNet.Tests;

/// <summary>
/// The reflection into ML.NET internals that has no public route (<see cref="MLNetInternals"/>): each use works as
/// relied on, and an ML.NET upgrade fails here, by name, until the reflected members have been checked again.
/// </summary>
public sealed class MLNetInternalsTests
{
    [Fact]
    public void The_reflection_is_written_for_ML_NET_5_0_1()
    {
        // The assembly version stays 1.0.0.0 across releases; the informational version is the package's.
        string version = typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.True(version.StartsWith("5.0.1", StringComparison.Ordinal),
            $"Microsoft.ML is {version}: check every member MLNetInternals reaches by reflection (IInternalCatalog.Environment, " +
            "SchemaShape.Create, the MaximumEntropyModelParameters and MulticlassPredictionTransformer constructors), then update this test.");
    }

    [Fact]
    public void EnvironmentOf_a_catalog_logs_to_the_users_MLContext()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => messages.Add(e.Message);
        var env = MLNetInternals.EnvironmentOf(ml.Transforms);
        Assert.Same(env, MLNetInternals.EnvironmentOf(ml.MulticlassClassification.Trainers));
        using (var ch = env.Register("probe").Start("probe"))
            ch.Info(MessageSensitivity.None, "reached the user's log");
        Assert.Contains(messages, m => m.Contains("reached the user's log"));
        Assert.Throws<ArgumentException>(() => MLNetInternals.EnvironmentOf(new object()));
    }

    [Fact]
    public void ShapeOf_describes_each_column_with_its_kind_type_and_annotations()
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Vector", new VectorDataViewType(NumberDataViewType.Single, 4));
        builder.AddColumn("Key", new KeyDataViewType(typeof(uint), 3));
        var shape = MLNetInternals.ShapeOf(builder.ToSchema());
        Assert.Equal(["Vector", "Key"], shape.Select(c => c.Name));
        Assert.Equal((SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single), (shape[0].Kind, shape[0].ItemType));
        Assert.True(shape[1].IsKey);
    }

    [Fact]
    public void SoftmaxHead_gives_softmax_scores_with_slot_names_and_a_key_typed_argmax_with_class_names()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new LogitsRow { Logits = [0f, 2f, 1f] }, new LogitsRow { Logits = [3f, 0f, 0f] } });
        string[] names = ["cat", "dog", "fox"];
        var head = MLNetInternals.SoftmaxHead(MLNetInternals.EnvironmentOf(ml.Transforms), "Logits", names, "Score", "PredictedLabel");
        var scored = ml.Transforms.Conversion.MapKeyToValue("Name", "PredictedLabel").Fit(head.Transform(data)).Transform(head.Transform(data));

        var score = scored.Schema["Score"];
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        score.GetSlotNames(ref slotNames);
        Assert.Equal(names, slotNames.DenseValues().Select(n => n.ToString()));
        var predicted = scored.Schema["PredictedLabel"];
        Assert.Equal(new KeyDataViewType(typeof(uint), 3), predicted.Type);

        var rows = ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).ToList();
        Assert.Equal(["dog", "cat"], rows.Select(r => r.Name));
        float[] logits = [0f, 2f, 1f];
        var expected = logits.Select(l => MathF.Exp(l) / logits.Sum(MathF.Exp)).ToArray();
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], rows[0].Score[i], 1e-6f);
    }

    private sealed class LogitsRow
    {
        [VectorType(3)] public float[] Logits { get; set; } = [];
    }

    private sealed class ScoredRow
    {
        public float[] Score { get; set; } = [];
        public string Name { get; set; } = "";
    }
}
