using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// TorchSharp's AdamW (decoupled weight decay, bias correction; not AMSGrad, which the trainer does not use) with the same update, the same state
/// and so the same checkpoint format, except that every <see cref="Scalar"/> it hands to libtorch is held in a local
/// until the native call has returned: TorchSharp 0.107's own step converts each coefficient into a temporary
/// <see cref="Scalar"/> that a garbage collection can free mid-call (the race <see cref="HeldScalarSgd"/> closes for
/// SGD; docs/reliability.md, "Long training runs").
/// </summary>
internal sealed class HeldScalarAdamW : AdamW
{
    /// <summary>AdamW over <paramref name="parameters"/> with TorchSharp's defaults for the betas and ε.</summary>
    public HeldScalarAdamW(IEnumerable<Parameter> parameters, double lr, double weightDecay)
        : base(parameters, lr, weight_decay: weightDecay)
    {
    }

    /// <inheritdoc/>
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, decay = options.weight_decay!.Value, lr = options.LearningRate!.Value;
        if (options.amsgrad == true) throw new NotSupportedException("HeldScalarAdamW does not implement AMSGrad.");
        bool maximize = options.maximize!.Value;
        using Scalar shrink = 1 - lr * decay, beta1Scalar = beta1, keep1 = 1 - beta1, beta2Scalar = beta2, keep2 = 1 - beta2,
            eps = options.eps!.Value;
        foreach (var param in group.Parameters)
        {
            using var raw = param.grad;
            if (raw is null) continue;
            using var negated = maximize ? raw.neg() : null;
            var grad = negated ?? raw;
            var state = (State)_state[param.Handle];
            state.step += 1;
            param.mul_(shrink);
            double correction1 = 1 - Math.Pow(beta1, state.step), correction2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(beta1Scalar).add_(grad, keep1);
            state.exp_avg_sq.mul_(beta2Scalar).addcmul_(grad, grad, keep2);
            using Scalar root2 = Math.Sqrt(correction2), stepSize = -lr / correction1;
            using var root = state.exp_avg_sq.sqrt();
            using var denominator = root.div(root2).add_(eps);
            param.addcdiv_(state.exp_avg, denominator, stepSize);
        }
    }, closure);
}
