namespace ResNet.Training.Data;

/// <summary>
/// Batch number <paramref name="Number"/> of an epoch: network inputs (N×3×S×S floats, row-major), labels and the
/// samples' dataset indices.
/// </summary>
public sealed record Batch(int Number, float[] Inputs, long[] Labels, int[] Indices, int Size)
{
    /// <summary>Number of samples in the batch.</summary>
    public int Count => Labels.Length;
}
