namespace ResNet.Training.Training;

/// <summary>The outcome of <see cref="Trainer.Fit"/>.</summary>
public sealed record TrainingResult
{
    /// <summary>Metrics of every finished epoch (resumed runs include the epochs before the resume).</summary>
    public IReadOnlyList<EpochMetrics> History { get; init; } = [];
    /// <summary>True when cancellation stopped the run (a checkpoint was saved first when there is a run directory).</summary>
    public bool Interrupted { get; init; }
    /// <summary>Best validation top-1 (training accuracy without a validation set) and its epoch.</summary>
    public double? BestAccuracy { get; init; }
    /// <summary>1-based epoch of <see cref="BestAccuracy"/>.</summary>
    public int? BestEpoch { get; init; }
    /// <summary>The last checkpoint folder, when a run directory was given.</summary>
    public string? LastCheckpoint { get; init; }
    /// <summary>The best checkpoint folder, when a run directory was given.</summary>
    public string? BestCheckpoint { get; init; }
    /// <summary>The validation confusion matrix of the last epoch.</summary>
    public ConfusionMatrix? ValidationConfusion { get; init; }
    /// <summary>Wall time of this call.</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Peak resident memory of the process, in bytes (Linux).</summary>
    public long? PeakRssBytes { get; init; }
}
