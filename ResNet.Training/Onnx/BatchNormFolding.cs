using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Onnx;

/// <summary>
/// Folds an evaluation-mode BatchNorm into the bias-free convolution before it. With s = γ / √(σ² + ε) per output
/// channel, BN(conv(x, W)) = s·(W∗x − μ) + β = (s·W)∗x + (β − s·μ): a single convolution with weight s·W and bias
/// β − s·μ. Computed in float64 and rounded once to float32, so the folded layer differs from the pair by no more
/// than the float32 rounding of its own arithmetic (docs/onnx.md).
/// </summary>
internal static class BatchNormFolding
{
    /// <summary>The folded weight (shape of <paramref name="convWeight"/>) and bias (one per output channel), as float32.</summary>
    public static (float[] Weight, float[] Bias) Fold(Tensor convWeight, BatchNorm bn)
    {
        if (bn.weight is null || bn.bias is null || bn.running_mean is null || bn.running_var is null)
            throw new ArgumentException("Only affine BatchNorm layers with running statistics can be folded.");
        if (convWeight.shape[0] != bn.running_mean.shape[0])
            throw new ArgumentException($"The convolution has {convWeight.shape[0]} output channels but the BatchNorm {bn.running_mean.shape[0]}.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scale = bn.weight.detach().cpu().to_type(ScalarType.Float64)
            / (bn.running_var.cpu().to_type(ScalarType.Float64) + bn.eps).sqrt();
        var weight = convWeight.detach().cpu().to_type(ScalarType.Float64) * scale.view(-1, 1, 1, 1);
        var bias = bn.bias.detach().cpu().to_type(ScalarType.Float64) - bn.running_mean.cpu().to_type(ScalarType.Float64) * scale;
        return (weight.to_type(ScalarType.Float32).data<float>().ToArray(), bias.to_type(ScalarType.Float32).data<float>().ToArray());
    }
}
