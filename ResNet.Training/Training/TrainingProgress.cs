namespace ResNet.Training.Training;

/// <summary>What the trainer reports to its <see cref="Trainer.Progress"/> callback.</summary>
public enum ProgressPhase
{
    /// <summary>After each optimiser step.</summary>
    Step,
    /// <summary>Validating at the end of an epoch.</summary>
    Validating,
    /// <summary>After an epoch, its validation and its checkpoint; <see cref="TrainingProgress.Metrics"/> is set.</summary>
    EpochEnd,
}

/// <summary>A progress report.</summary>
public sealed record TrainingProgress
{
    /// <summary>What just happened.</summary>
    public ProgressPhase Phase { get; init; }
    /// <summary>1-based epoch.</summary>
    public int Epoch { get; init; }
    /// <summary>Epochs in the run.</summary>
    public int Epochs { get; init; }
    /// <summary>1-based batch within the epoch.</summary>
    public int Step { get; init; }
    /// <summary>Batches per epoch.</summary>
    public int StepsPerEpoch { get; init; }
    /// <summary>Optimiser steps so far in the whole run.</summary>
    public long GlobalStep { get; init; }
    /// <summary>Mean training loss of the epoch so far.</summary>
    public double Loss { get; init; }
    /// <summary>Training accuracy of the epoch so far.</summary>
    public double Accuracy { get; init; }
    /// <summary>Learning rate of the last step.</summary>
    public double LearningRate { get; init; }
    /// <summary>Training images per second in this epoch.</summary>
    public double ImagesPerSecond { get; init; }
    /// <summary>Estimated time to the end of the run.</summary>
    public TimeSpan Eta { get; init; }
    /// <summary>The finished epoch's metrics (at <see cref="ProgressPhase.EpochEnd"/>).</summary>
    public EpochMetrics? Metrics { get; init; }
}
