using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// TorchSharp's SGD (momentum, Nesterov, weight decay) with the same update, the same state and so the same checkpoint
/// format, except that every <see cref="Scalar"/> it hands to libtorch is held in a local for the whole step. TorchSharp
/// 0.107's own step converts momentum, weight decay and learning rate into a temporary <see cref="Scalar"/> per
/// parameter and operation, and nothing keeps that object alive during the native call: a garbage collection in that
/// moment lets its finalizer free the native scalar under libtorch, which then fails with "Unknown scalar type" (seen
/// in <c>mul_</c> on the main job's own recipe, epoch 2) or crashes. See docs/reliability.md, "Long training runs".
/// Once a parameter has its momentum buffer, a CPU float32 parameter is updated by <see cref="FusedSgdKernel"/> in one
/// pass over its memory, with the same arithmetic (the same results to the last bit where libtorch vectorises).
/// </summary>
internal sealed class HeldScalarSgd : SGD
{
    /// <summary>SGD over <paramref name="parameters"/>, without dampening (as the recipes use it).</summary>
    public HeldScalarSgd(IEnumerable<Parameter> parameters, double lr, double momentum, double weightDecay, bool nesterov)
        : base(parameters, lr, momentum, dampening: 0, weight_decay: weightDecay, nesterov: nesterov)
    {
    }

    /// <inheritdoc/>
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = group.Options;
        double momentum = options.momentum!.Value, decay = options.weight_decay!.Value, lr = options.LearningRate!.Value;
        bool nesterov = options.nesterov!.Value;
        // Held until the end of the step: the point of this class.
        using Scalar momentumScalar = momentum, keep = 1 - options.dampening!.Value, decayScalar = decay,
            stepScalar = options.maximize!.Value ? lr : -lr;
        var fused = new List<FusedSgdKernel.Slot>();
        var fusedGrads = new List<Tensor>(); // alive until the kernel has run over their memory
        foreach (var param in group.Parameters)
        {
            var grad = param.grad;
            if (grad is null) continue;
            var state = (State)_state[param.Handle];
            if (momentum != 0 && state.momentum_buffer is { } buffer && FusedSgdKernel.Applies(param, grad, buffer))
            {
                fusedGrads.Add(grad);
                fused.Add(FusedSgdKernel.SlotOf(param, grad, buffer));
                continue;
            }
            using var disposeGrad = grad;
            // Each temporary is freed as soon as it is used, as PyTorch's step frees them, rather than at the end of
            // the caller's dispose scope: the step then holds one parameter's temporaries, not two copies of the model.
            using var decayed = decay != 0 ? grad.add(param, decayScalar) : null;
            var direction = decayed ?? grad;
            using var lookahead = momentum != 0 ? UpdateMomentum(state, direction, momentumScalar, keep, nesterov) : null;
            if (momentum != 0) direction = lookahead ?? state.momentum_buffer!;
            param.add_(direction, stepScalar);
        }
        try
        {
            // libtorch's scalars reach its float32 kernels as float32: the kernel takes them so.
            FusedSgdKernel.Update(fused, (float)decay, (float)momentum, (float)(1 - options.dampening!.Value), nesterov,
                (float)(options.maximize!.Value ? lr : -lr), get_num_threads());
        }
        finally
        {
            foreach (var grad in fusedGrads) grad.Dispose();
        }
    }, closure);

    /// <summary>
    /// Updates the momentum buffer with <paramref name="direction"/>; returns Nesterov's look-ahead direction (a new
    /// tensor the caller frees), or null when the buffer itself is the direction.
    /// </summary>
    private static Tensor? UpdateMomentum(State state, Tensor direction, Scalar momentum, Scalar keep, bool nesterov)
    {
        var buffer = state.momentum_buffer;
        if (buffer is null)
        {
            using var copy = direction.clone();
            state.momentum_buffer = buffer = copy.detach().DetachFromDisposeScope();
        }
        else
        {
            buffer.mul_(momentum).add_(direction, keep);
        }
        return nesterov ? direction.add(buffer, momentum) : null;
    }
}
