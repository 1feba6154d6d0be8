using static TorchSharp.torch;

namespace ResNet.Training.Data;

/// <summary>
/// Batch number <paramref name="Number"/> of an epoch: network inputs (N×3×S×S floats, row-major), labels and the
/// samples' dataset indices.
/// </summary>
public sealed record Batch(int Number, float[] Inputs, long[] Labels, int[] Indices, int Size)
{
    /// <summary>Number of samples in the batch.</summary>
    public int Count => Labels.Length;

    /// <summary>
    /// <see cref="Inputs"/> as an N×<paramref name="sampleShape"/> CPU tensor over the same memory, which stays pinned
    /// until the tensor is disposed; the batch must not change while the tensor lives.
    /// </summary>
    /// <remarks>
    /// Not <c>torch.tensor(Inputs, shape)</c>: that clones the array first, a second managed array per step (19 MiB at
    /// 224², batch 32) that only the large-object heap's rare collections free, and pins it for the step.
    /// </remarks>
    public Tensor InputTensor(ReadOnlySpan<long> sampleShape)
    {
        using var flat = from_array(Inputs);
        return flat.view([Count, .. sampleShape]);
    }
}
