using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Training.Model;

/// <summary>
/// The stem's 3×3 max-pool (<c>nn.MaxPool2d</c>'s arithmetic, the same values, indices and gradients, bit for bit) that
/// runs libtorch's channels-last kernel on the CPU.
/// </summary>
/// <remarks>
/// libtorch 2.10's max-pool over NCHW tensors is scalar code: at 32² with batch 128 (128×64×16×16 in) its forward took
/// 9.3–9.9 ms of a 230 ms training step on a 2-core AMD EPYC (Zen 4); PyTorch 1.13's forward and backward together took
/// 8.1–10.5 ms there (<c>benchmarks/training/ops_torch.py</c>). The same pooling over a
/// channels-last copy, its output copied back to NCHW, took 2.2–2.8 ms, and the backward as a scatter-add of the
/// gradient by the saved indices 0.4–0.5 ms (<c>benchmarks/training/StepProfile -- --ops</c> times it beside the stock
/// kernel). Ties pick the same element in both kernels (the first in the window), so values, indices and gradients are
/// identical (<c>ModelTests</c>). Other devices keep the stock module's kernel, and so do inputs over
/// <see cref="LargestCopiedInputBytes"/>: at 224² with batch 32 (103 MB in) the copies raised the training's peak RSS by
/// 80–110 MiB and its speed did not change (three rounds of both versions at once, one pinned thread each), since
/// there the convolutions dwarf the pool.
/// </remarks>
internal sealed class ChannelsLastMaxPool2d : nn.Module<Tensor, Tensor>
{
    /// <summary>The largest input (bytes) pooled through a channels-last copy; 32² inputs with batch 128 are 8.4 MB.</summary>
    internal const long LargestCopiedInputBytes = 32L << 20;

    private readonly long[] kernel, stride, padding;

    public ChannelsLastMaxPool2d(long kernelSize, long stride, long padding) : base("MaxPool2d")
    {
        kernel = [kernelSize, kernelSize];
        this.stride = [stride, stride];
        this.padding = [padding, padding];
    }

    public override Tensor forward(Tensor x)
    {
        if (x.device_type != DeviceType.CPU || x.ndim != 4 || x.numel() * x.element_size() > LargestCopiedInputBytes)
            return nn.functional.max_pool2d(x, kernel, stride, padding);
        if (!x.requires_grad || !is_grad_enabled())
        {
            using var scope = NewDisposeScope();
            return nn.functional.max_pool2d(ChannelsLast(x), kernel, stride, padding).contiguous().MoveToOuterDisposeScope();
        }
        return Pooling.apply(x, kernel, stride, padding);
    }

    /// <summary>The same values with channels-last strides (libtorch picks its kernel from the strides).</summary>
    private static Tensor ChannelsLast(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Forward through the channels-last kernel; backward scatters the gradient to the saved argmax positions.</summary>
    private sealed class Pooling : autograd.SingleTensorFunction<Pooling>
    {
        public override string Name => "ChannelsLastMaxPool2dBackward";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, kernel, stride, padding) = ((Tensor)vars[0], (long[])vars[1], (long[])vars[2], (long[])vars[3]);
            using var scope = NewDisposeScope();
            var (y, indices) = nn.functional.max_pool2d_with_indices(ChannelsLast(x), kernel, stride, padding);
            var flatIndices = indices.contiguous().flatten(2).MoveToOuterDisposeScope();
            ctx.save_for_backward([flatIndices]);
            ctx.save_data("shape", x.shape);
            return y.contiguous().MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var indices = ctx.get_saved_variables()[0];
            var shape = (long[])ctx.get_data("shape");
            using var scope = NewDisposeScope();
            var input = zeros([shape[0], shape[1], shape[2] * shape[3]], dtype: gradient.dtype, device: gradient.device)
                .scatter_add_(2, indices, gradient.contiguous().flatten(2));
            return [input.view(shape).MoveToOuterDisposeScope(), null!, null!, null!];
        }
    }
}
