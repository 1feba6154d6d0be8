namespace ResNet.Training.Training;

/// <summary>
/// The learning rate as a pure function of the optimiser step, so a resumed run needs only the step number to be
/// exactly where it was (the "scheduler state" of the checkpoint).
/// </summary>
public sealed class LearningRateSchedule(TrainingOptions options)
{
    /// <summary>PyTorch OneCycleLR's defaults: start at lr/25, end at lr/(25·10⁴), rise for 30 % of the run.</summary>
    private const double DivFactor = 25, FinalDivFactor = 1e4, OneCyclePctStart = 0.3;

    /// <summary>The learning rate for step <paramref name="step"/> (0-based) of a run of <paramref name="totalSteps"/>.</summary>
    public double At(long step, long totalSteps)
    {
        double lr = options.LearningRate;
        long stepsPerEpoch = Math.Max(1, totalSteps / options.Epochs);
        switch (options.Schedule)
        {
            case ScheduleKind.OneCycle:
            {
                double up = options.WarmupEpochs is { } w ? w * stepsPerEpoch : OneCyclePctStart * totalSteps;
                up = Math.Max(1, up);
                double start = lr / DivFactor, end = start / FinalDivFactor;
                if (step < up) return Anneal(start, lr, step / up);
                return Anneal(lr, end, Math.Min(1, (step - up) / Math.Max(1, totalSteps - 1 - up)));
            }
            default:
            {
                double warm = (options.WarmupEpochs ?? 0) * stepsPerEpoch;
                if (step < warm) return lr * (step + 1) / warm;
                if (options.Schedule == ScheduleKind.Constant) return lr;
                double t = (step - warm) / Math.Max(1, totalSteps - warm);
                return lr * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, t)));
            }
        }
    }

    /// <summary>Cosine interpolation from <paramref name="from"/> (t = 0) to <paramref name="to"/> (t = 1).</summary>
    private static double Anneal(double from, double to, double t) => to + (from - to) * 0.5 * (1 + Math.Cos(Math.PI * t));
}
