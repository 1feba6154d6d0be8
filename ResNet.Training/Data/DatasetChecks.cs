namespace ResNet.Training.Data;

/// <summary>Checks shared by the datasets, with messages that say what to fix.</summary>
internal static class DatasetChecks
{
    /// <summary>Every label must name a class, and there must be at least two classes to learn anything.</summary>
    public static void Labels(IReadOnlyList<int> labels, IReadOnlyList<string> classNames, string source)
    {
        if (classNames.Count < 2)
            throw new InvalidDataException(
                $"{source}: {classNames.Count} class(es) found ({string.Join(", ", classNames)}); a classifier needs at least two classes.");
        for (int i = 0; i < labels.Count; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new InvalidDataException($"{source}: sample {i} has label {labels[i]}, outside 0..{classNames.Count - 1}.");
    }
}
