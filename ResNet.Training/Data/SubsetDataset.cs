using ResNet.Training.Imaging;

namespace ResNet.Training.Data;

/// <summary>A view of some samples of another dataset (a seeded train/validation split, say).</summary>
public sealed class SubsetDataset(IDataset source, int[] indices) : IDataset
{
    /// <summary>The indices into the source dataset.</summary>
    public IReadOnlyList<int> Indices => indices;
    /// <inheritdoc/>
    public int Count => indices.Length;
    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames => source.ClassNames;
    /// <inheritdoc/>
    public Preprocessing Preprocessing => source.Preprocessing;
    /// <inheritdoc/>
    public SkippedFiles Skipped => source.Skipped;
    /// <inheritdoc/>
    public int LabelOf(int index) => source.LabelOf(indices[index]);
    /// <inheritdoc/>
    public bool TryRead(int index, Random? augment, Span<float> dest) => source.TryRead(indices[index], augment, dest);
    /// <inheritdoc/>
    public long[] SampleShape => source.SampleShape;

    /// <summary>
    /// Splits <paramref name="dataset"/> into two parts, stratified by class: <paramref name="fraction"/> of each
    /// class (at least one sample of a class with two or more) goes to the second part. Seeded, so reproducible.
    /// </summary>
    public static (SubsetDataset Kept, SubsetDataset Held) Split(IDataset dataset, double fraction, int seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentException($"The split fraction must be between 0 and 1, not {fraction}.");
        var rest = new List<int>();
        var held = new List<int>();
        var byClass = Enumerable.Range(0, dataset.Count).GroupBy(dataset.LabelOf).OrderBy(g => g.Key);
        foreach (var group in byClass)
        {
            var members = group.ToArray();
            new Random(SampleRandom.Seed(seed, group.Key, 77)).Shuffle(members);
            int take = members.Length < 2 ? 0 : Math.Max(1, (int)Math.Round(members.Length * fraction));
            held.AddRange(members[..take]);
            rest.AddRange(members[take..]);
        }
        rest.Sort();
        held.Sort();
        return (new SubsetDataset(dataset, rest.ToArray()), new SubsetDataset(dataset, held.ToArray()));
    }
}
