namespace ResNet.Training.Training;

/// <summary>Thrown when the training loss becomes NaN or infinite; the run stops without overwriting the last good checkpoint.</summary>
public sealed class NonFiniteLossException(int epoch, int step, double learningRate, double loss, string? lastCheckpoint)
    : Exception(FormattableString.Invariant(
        $"the training loss became {loss} at epoch {epoch}, step {step} (learning rate {learningRate:G4}); stopped. ") +
        (lastCheckpoint is null ? "No checkpoint had been written yet. " : $"The last good checkpoint, {lastCheckpoint}, is intact. ") +
        "Try a lower LearningRate, a longer WarmupEpochs or a ClipGradNorm, and check the data for bad values.")
{
    /// <summary>1-based epoch of the bad step.</summary>
    public int Epoch { get; } = epoch;
    /// <summary>1-based step within the epoch.</summary>
    public int Step { get; } = step;
    /// <summary>Learning rate of the bad step.</summary>
    public double LearningRate { get; } = learningRate;
}
