namespace ResNet.Training.Training;

/// <summary>One row of <c>metrics.csv</c> / <c>metrics.json</c>.</summary>
public sealed record EpochMetrics
{
    /// <summary>1-based epoch.</summary>
    public int Epoch { get; init; }
    /// <summary>Learning rate of the epoch's last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Mean training loss (with label smoothing) over the epoch.</summary>
    public double TrainLoss { get; init; }
    /// <summary>Training accuracy of the augmented batches, in training mode.</summary>
    public double TrainAccuracy { get; init; }
    /// <summary>Validation loss, when there is a validation set.</summary>
    public double? ValLoss { get; init; }
    /// <summary>Validation top-1 accuracy.</summary>
    public double? ValTop1 { get; init; }
    /// <summary>Validation top-5 accuracy (ten or more classes).</summary>
    public double? ValTop5 { get; init; }
    /// <summary>Training throughput of the epoch.</summary>
    public double ImagesPerSecond { get; init; }
    /// <summary>Wall time of the epoch, validation included.</summary>
    public double Seconds { get; init; }
}
