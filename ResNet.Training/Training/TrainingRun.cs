using System.Diagnostics;
using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;

namespace ResNet.Training.Training;

/// <summary>
/// What one call of <see cref="Trainer.Fit"/> works on: the model, data and optimiser, where the run stands
/// (<see cref="State"/>, saved in checkpoints) and the counters of this call only (speed and ETA).
/// </summary>
internal sealed class TrainingRun
{
    public required ResNetModel Model { get; init; }
    public required IDataset Train { get; init; }
    public IDataset? Validation { get; init; }
    /// <summary>The card written beside every checkpoint's weights.</summary>
    public required ModelCard Card { get; init; }
    /// <summary>Checkpoint folders; null when the trainer has no run directory.</summary>
    public string? LastPath { get; init; }
    public string? BestPath { get; init; }
    public CancellationToken Cancellation { get; init; }
    /// <summary>Wall time of this call, started on entry.</summary>
    public required Stopwatch Clock { get; init; }

    public required OptimizerHelper Optimizer { get; init; }
    public required DataLoader Loader { get; init; }
    public required LearningRateSchedule Schedule { get; init; }
    public int StepsPerEpoch => Loader.BatchesPerEpoch;
    public required long TotalSteps { get; init; }

    /// <summary>Where the run stands; what a checkpoint saves.</summary>
    public required TrainerState State { get; set; }
    /// <summary>Metrics of the finished epochs (restored on resume).</summary>
    public required List<EpochMetrics> History { get; init; }
    /// <summary>The latest validation's confusion matrix.</summary>
    public ConfusionMatrix? Confusion { get; set; }
    /// <summary>The latest checkpoint a non-finite loss can be traced back to.</summary>
    public string? GoodCheckpoint { get; set; }

    /// <summary>Optimiser steps taken and seconds spent training in this call (not in the resumed-from one).</summary>
    public long StepsThisCall { get; set; }
    public double TrainSecondsThisCall { get; set; }
    /// <summary>
    /// Seconds of training in this call up to the end of its first step: that step also builds oneDNN's kernels for
    /// every layer shape (and .NET compiles the loop), so the ETA leaves it out once later steps exist.
    /// </summary>
    public double? FirstStepSeconds { get; set; }

    /// <summary>The running sums of the epoch in progress (continued from <see cref="State"/> when resuming mid-epoch).</summary>
    internal sealed class EpochTally
    {
        /// <summary>0-based epoch.</summary>
        public required int Epoch { get; init; }
        /// <summary>Batches of the epoch trained so far (including those before a resume).</summary>
        public int Batches { get; set; }
        public double LossSum { get; set; }
        public long Correct { get; set; }
        public long Seen { get; set; }
        /// <summary>Samples trained on in this call, for the speed.</summary>
        public long SeenThisCall { get; set; }
        /// <summary>The learning rate of the latest step.</summary>
        public double LearningRate { get; set; }
        /// <summary>Started with the epoch; the training part ends at <see cref="TrainSeconds"/>.</summary>
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public double TrainSeconds { get; set; }

        /// <summary>The state that resumes this epoch after <see cref="Batches"/> batches.</summary>
        public TrainerState SaveInto(TrainerState state) =>
            state with { Epoch = Epoch, BatchInEpoch = Batches, EpochLossSum = LossSum, EpochCorrect = Correct, EpochSeen = Seen };
    }
}
