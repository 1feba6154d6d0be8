using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// <see cref="TorchSharp.Modules.BatchNorm2d"/> with the same parameters, buffers and arithmetic, except that it counts batches
/// with <see cref="Scalar"/>s it holds for its lifetime.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's BatchNorm counts with <c>num_batches_tracked.add_(1)</c>, which hands the native call the handles
/// of two temporary <see cref="Scalar"/>s and keeps neither alive. When a garbage collection finalises them during the
/// call, libtorch reads freed scalars; training then failed here, rarely, with "For integral input tensors, argument
/// alpha must not be a floating point number". Held scalars cannot be collected mid-call.
/// </remarks>
public sealed class TrackedBatchNorm2d : TorchSharp.Modules.BatchNorm
{
    private readonly Scalar one = 1;

    /// <summary>A BatchNorm over <paramref name="features"/> channels (eps 1e-5, momentum 0.1, affine, running statistics).</summary>
    public TrackedBatchNorm2d(long features)
        : base(features, eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true, device: null, dtype: null, name: "BatchNorm2d")
    {
    }

    /// <inheritdoc/>
    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4)
            throw new ArgumentException($"BatchNorm2d expects a 4-D input (N×C×H×W), got {input.ndim}-D.");
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        if (training && num_batches_tracked is not null)
            num_batches_tracked.add_(one, one);
        // Running statistics are always tracked, so evaluation uses them and training updates them (momentum 0.1).
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, momentum ?? 0.1, eps);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) one.Dispose();
        base.Dispose(disposing);
    }
}
