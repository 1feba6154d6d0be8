namespace ResNet.Training.Training;

/// <summary>The optimiser.</summary>
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with momentum (optionally Nesterov) and L2 weight decay.</summary>
    Sgd,
    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter 2019).</summary>
    AdamW,
}

/// <summary>The learning-rate schedule.</summary>
public enum ScheduleKind
{
    /// <summary>Linear warm-up, then cosine decay to zero.</summary>
    Cosine,
    /// <summary>PyTorch's OneCycleLR: cosine warm-up from lr/25 to lr, then cosine annealing to lr/(25·10⁴).</summary>
    OneCycle,
    /// <summary>Linear warm-up, then a constant learning rate.</summary>
    Constant,
}

/// <summary>Everything that decides a training run; saved in every checkpoint so <c>--resume</c> continues the same run.</summary>
public sealed record TrainingOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Samples per optimiser step.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>The optimiser.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>Nesterov momentum for SGD.</summary>
    public bool Nesterov { get; init; } = true;
    /// <summary>Weight decay (L2 for SGD, decoupled for AdamW).</summary>
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>The learning-rate schedule.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.OneCycle;
    /// <summary>Warm-up length in epochs (fractions allowed); for one-cycle, the rising part (default: 30 % of the run).</summary>
    public double? WarmupEpochs { get; init; }
    /// <summary>Label smoothing of the training loss (0 = none).</summary>
    public double LabelSmoothing { get; init; } = 0.1;
    /// <summary>Clip the gradient's global L2 norm to this value (null = no clipping).</summary>
    public double? ClipGradNorm { get; init; }
    /// <summary>Seed of initialisation, data order and augmentation.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Batches prepared ahead in background workers.</summary>
    public int Workers { get; init; } = 3;

    /// <summary>Throws with a clear message when a value cannot work.</summary>
    public TrainingOptions Validated()
    {
        if (Epochs < 1) throw new ArgumentException($"Epochs must be at least 1, not {Epochs}.");
        if (BatchSize < 2) throw new ArgumentException($"BatchSize must be at least 2 (BatchNorm needs two samples), not {BatchSize}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"LearningRate must be a positive number, not {LearningRate}.");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"WeightDecay must be zero or positive, not {WeightDecay}.");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"LabelSmoothing must be in [0, 1), not {LabelSmoothing}.");
        if (WarmupEpochs is { } w && !(w >= 0 && w <= Epochs)) throw new ArgumentException($"WarmupEpochs must be between 0 and Epochs ({Epochs}), not {w}.");
        if (ClipGradNorm is { } c && !(c > 0)) throw new ArgumentException($"ClipGradNorm must be positive, not {c}.");
        if (Momentum is < 0 or >= 1) throw new ArgumentException($"Momentum must be in [0, 1), not {Momentum}.");
        return this;
    }
}
