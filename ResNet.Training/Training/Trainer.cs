using System.Diagnostics;
using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Native;
using ResNet.Training.Weights;
using TorchSharp;
using static TorchSharp.torch;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;
using static TorchSharp.torch.optim;

namespace ResNet.Training.Training;

/// <summary>
/// Trains a <see cref="ResNetModel"/> on an <see cref="IDataset"/>: SGD or AdamW, cosine or one-cycle schedule with
/// warm-up, label smoothing, gradient clipping, validation each epoch, best and last checkpoints, exact resume,
/// cancellation with a checkpoint, and a NaN guard. Usable without the command line: give it options, a model and
/// data, and watch <see cref="Progress"/>.
/// </summary>
/// <param name="options">The recipe.</param>
/// <param name="device">Where to train (CPU when null).</param>
public sealed class Trainer(TrainingOptions options, Device? device = null)
{
    /// <summary>Folder names of the checkpoints inside <see cref="RunDirectory"/>/checkpoints.</summary>
    public const string LastName = "last", BestName = "best";

    /// <summary>The recipe (after a resume, the saved one with this object's epoch count).</summary>
    public TrainingOptions Options { get; private set; } = options.Validated();
    /// <summary>Where checkpoints, metrics and plots go; nothing is written when null.</summary>
    public string? RunDirectory { get; init; }
    /// <summary>Called after each step and each epoch, on the training thread.</summary>
    public Action<TrainingProgress>? Progress { get; init; }

    private readonly Device device = device ?? CPU;

    /// <summary>Checkpoint folder <paramref name="name"/> of a run directory.</summary>
    public static string CheckpointPath(string runDirectory, string name) => Path.Combine(runDirectory, "checkpoints", name);

    /// <summary>
    /// Trains <paramref name="model"/> (already initialised, e.g. after <c>torch.manual_seed</c>) on <paramref name="train"/>,
    /// validating on <paramref name="validation"/> after each epoch. With <paramref name="resume"/>, continues from the last
    /// checkpoint in <see cref="RunDirectory"/>: the weights, optimiser, schedule position, RNG and metrics are restored
    /// and the data order is recomputed from the seed, so the result equals an uninterrupted run.
    /// </summary>
    public TrainingResult Fit(ResNetModel model, IDataset train, IDataset? validation = null, bool resume = false,
        CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        CheckClasses(model, train, validation);
        var (state, resumedFrom) = resume ? ReadResumeState() : (new TrainerState { Options = Options }, null);
        OneDnnGradientGuard.Check(model, device);
        model.to(device);
        model.train();
        using var optimizer = CreateOptimizer(model);
        if (resumedFrom is not null) RestoreCheckpoint(resumedFrom, model, optimizer, state);
        var run = StartRun(model, train, validation, optimizer, state, resumedFrom, clock, cancellation);

        for (int epoch = state.Epoch; epoch < Options.Epochs; epoch++)
        {
            var tally = TrainEpoch(run, epoch);
            if (tally is null) return Interrupt(run);
            // The steps' freed activations stay in malloc's heap, and validation's allocations would come on top of
            // them; the next epoch's first step faults the pages back in, once.
            GlibcMallocTuning.ReleaseFreeMemory();
            var (validated, cancelled) = Validate(run, tally);
            if (cancelled)
            {
                // Every batch is trained: the resumed run starts at this epoch's validation.
                tally.Batches = run.StepsPerEpoch;
                run.State = tally.SaveInto(run.State);
                return Interrupt(run);
            }
            var (metrics, best) = FinishEpoch(run, tally, validated);
            SaveCheckpoints(run, best);
            ReportEpochEnd(run, metrics);
            if (cancellation.IsCancellationRequested && epoch + 1 < Options.Epochs)
                return Result(run, run.Confusion, interrupted: true);
        }
        return Result(run, run.Confusion, interrupted: false);
    }

    private static void CheckClasses(ResNetModel model, IDataset train, IDataset? validation)
    {
        if (model.Config.NumClasses != train.ClassNames.Count)
            throw new ArgumentException($"The model has {model.Config.NumClasses} outputs but the data has {train.ClassNames.Count} classes.");
        if (validation is not null && !validation.ClassNames.SequenceEqual(train.ClassNames))
            throw new ArgumentException("The validation data's classes differ from the training data's.");
    }

    /// <summary>Resume, first half: the saved state and options (this object's epoch count and workers win).</summary>
    private (TrainerState State, string ResumedFrom) ReadResumeState()
    {
        if (RunDirectory is null) throw new InvalidOperationException("Resuming needs a run directory.");
        string lastPath = CheckpointPath(RunDirectory, LastName);
        string resumedFrom = Checkpoint.Resolve(lastPath)
            ?? throw new FileNotFoundException($"No checkpoint to resume in {RunDirectory} (expected {lastPath}/{Checkpoint.StateFile}).");
        var saved = Checkpoint.ReadState(resumedFrom);
        Options = saved.Options with { Epochs = Options.Epochs, Workers = Options.Workers };
        return (saved with { Options = Options }, resumedFrom);
    }

    /// <summary>Resume, second half: the weights, the optimiser state and torch's RNG.</summary>
    private static void RestoreCheckpoint(string folder, ResNetModel model, OptimizerHelper optimizer, TrainerState state)
    {
        Checkpoint.Restore(folder, model, optimizer);
        if (state.TorchRngState is { } rng)
            using (var t = tensor(Convert.FromBase64String(rng), ScalarType.Byte)) random.set_rng_state(t);
    }

    private TrainingRun StartRun(ResNetModel model, IDataset train, IDataset? validation, OptimizerHelper optimizer,
        TrainerState state, string? resumedFrom, Stopwatch clock, CancellationToken cancellation)
    {
        var loader = new DataLoader(train, Options.BatchSize, train: true, Options.Seed, Options.Workers);
        return new TrainingRun
        {
            Model = model, Train = train, Validation = validation, Optimizer = optimizer, Loader = loader, Clock = clock, Cancellation = cancellation,
            Card = new ModelCard { Architecture = model.Config, ClassNames = train.ClassNames.ToArray(), Preprocessing = train.Preprocessing },
            LastPath = RunDirectory is null ? null : CheckpointPath(RunDirectory, LastName),
            BestPath = RunDirectory is null ? null : CheckpointPath(RunDirectory, BestName),
            Schedule = new LearningRateSchedule(Options), TotalSteps = (long)loader.BatchesPerEpoch * Options.Epochs,
            State = state, History = new List<EpochMetrics>(state.History), GoodCheckpoint = resumedFrom,
        };
    }

    /// <summary>
    /// Trains the batches of <paramref name="epoch"/> not yet trained; null when cancelled mid-epoch (then
    /// <see cref="TrainingRun.State"/> holds the position to resume from).
    /// </summary>
    private TrainingRun.EpochTally? TrainEpoch(TrainingRun run, int epoch)
    {
        var state = run.State;
        int startBatch = epoch == state.Epoch ? state.BatchInEpoch : 0;
        var tally = startBatch > 0
            ? new TrainingRun.EpochTally { Epoch = epoch, Batches = startBatch, LossSum = state.EpochLossSum, Correct = state.EpochCorrect, Seen = state.EpochSeen }
            : new TrainingRun.EpochTally { Epoch = epoch };
        if (startBatch == 0) random.manual_seed(SampleRandom.Seed(Options.Seed, epoch, 0x70C4));
        // The rate of the last step taken: what the epoch reports when resumed after its last batch.
        tally.LearningRate = run.Schedule.At(Math.Max(0, state.GlobalStep - 1), run.TotalSteps);

        foreach (var batch in run.Loader.Epoch(epoch, startBatch, reuseInputs: true))
        {
            tally.LearningRate = run.Schedule.At(run.State.GlobalStep, run.TotalSteps);
            foreach (var group in run.Optimizer.ParamGroups) group.LearningRate = tally.LearningRate;
            var (loss, right) = TrainStep(run.Model, run.Optimizer, batch, run.Train.SampleShape);
            if (!double.IsFinite(loss))
                throw new NonFiniteLossException(epoch + 1, batch.Number + 1, tally.LearningRate, loss, run.GoodCheckpoint);
            tally.LossSum += loss * batch.Count;
            tally.Correct += right;
            tally.Seen += batch.Count;
            tally.SeenThisCall += batch.Count;
            tally.Batches = batch.Number + 1;
            run.State = run.State with { GlobalStep = run.State.GlobalStep + 1 };
            run.StepsThisCall++;
            ReportStep(run, tally);
            if (run.Cancellation.IsCancellationRequested && tally.Batches < run.StepsPerEpoch)
            {
                run.State = tally.SaveInto(run.State);
                return null;
            }
        }
        tally.TrainSeconds = tally.Clock.Elapsed.TotalSeconds;
        run.TrainSecondsThisCall += tally.TrainSeconds;
        if (tally.Seen == 0) throw new InvalidDataException($"No readable training samples in epoch {epoch + 1} ({run.Train.Skipped.Summary()}).");
        return tally;
    }

    /// <summary>One optimiser step in its own dispose scope; returns the batch's mean loss and its correct predictions.</summary>
    private (double Loss, long Correct) TrainStep(ResNetModel model, OptimizerHelper optimizer, Batch batch, long[] sampleShape)
    {
        using var scope = NewDisposeScope();
        var x = batch.InputTensor(sampleShape).to(device);
        var y = tensor(batch.Labels).to(device);
        var logits = model.forward(x);
        var loss = nn.functional.cross_entropy(logits, y, label_smoothing: Options.LabelSmoothing);
        double value = loss.item<float>();
        if (!double.IsFinite(value)) return (value, 0);
        optimizer.zero_grad();
        loss.backward();
        if (Options.ClipGradNorm is { } clip) nn.utils.clip_grad_norm_(model.parameters(), clip);
        // Both optimisers hold their scalars (HeldScalarSgd, HeldScalarAdamW): docs/reliability.md, "Long training runs".
        optimizer.step();
        long right;
        using (no_grad()) right = logits.argmax(1).eq(y).sum().item<long>();
        return (value, right);
    }

    /// <summary>Evaluates the validation set, when there is one; <c>Cancelled</c> when cancellation stopped it.</summary>
    private (EvaluationResult? Result, bool Cancelled) Validate(TrainingRun run, TrainingRun.EpochTally tally)
    {
        if (run.Validation is null) return (null, false);
        Progress?.Invoke(new TrainingProgress
        {
            Phase = ProgressPhase.Validating, Epoch = tally.Epoch + 1, Epochs = Options.Epochs, StepsPerEpoch = run.StepsPerEpoch,
            Step = run.StepsPerEpoch, GlobalStep = run.State.GlobalStep,
        });
        try
        {
            var result = Evaluator.Evaluate(run.Model, run.Validation, device, Math.Max(Options.BatchSize, 64), Options.Workers, run.Cancellation);
            run.Confusion = result.Confusion;
            return (result, false);
        }
        catch (OperationCanceledException)
        {
            return (null, true);
        }
    }

    /// <summary>Records the epoch's metrics in the history and moves the state to the next epoch; <c>Best</c> when it beat every earlier one.</summary>
    private static (EpochMetrics Metrics, bool Best) FinishEpoch(TrainingRun run, TrainingRun.EpochTally tally, EvaluationResult? validated)
    {
        var metrics = new EpochMetrics
        {
            Epoch = tally.Epoch + 1, LearningRate = tally.LearningRate, TrainLoss = tally.LossSum / tally.Seen, TrainAccuracy = (double)tally.Correct / tally.Seen,
            ValLoss = validated?.Loss, ValTop1 = validated?.Top1, ValTop5 = validated?.Top5,
            ImagesPerSecond = tally.SeenThisCall / Math.Max(tally.TrainSeconds, 1e-9), Seconds = tally.Clock.Elapsed.TotalSeconds,
        };
        run.History.Add(metrics);
        double score = validated?.Top1 ?? metrics.TrainAccuracy;
        var state = run.State;
        bool best = state.BestAccuracy is not { } b || score > b;
        run.State = state with
        {
            Epoch = tally.Epoch + 1, BatchInEpoch = 0, EpochLossSum = 0, EpochCorrect = 0, EpochSeen = 0, History = run.History.ToList(),
            BestAccuracy = best ? score : state.BestAccuracy, BestEpoch = best ? tally.Epoch + 1 : state.BestEpoch,
        };
        return (metrics, best);
    }

    /// <summary>Writes the last checkpoint (and the best, when this epoch is), then the metrics and plots; nothing without a run directory.</summary>
    private void SaveCheckpoints(TrainingRun run, bool best)
    {
        if (RunDirectory is null) return;
        SaveLast(run);
        run.GoodCheckpoint = run.LastPath;
        // The best epoch is the one just saved as the last: its files are copied, not compressed again.
        if (best) Checkpoint.SaveCopy(run.LastPath!, run.BestPath!, run.State);
        WriteReports(run.History, run.Confusion, run.Train.ClassNames);
    }

    private void ReportStep(TrainingRun run, TrainingRun.EpochTally tally)
    {
        double elapsed = tally.Clock.Elapsed.TotalSeconds;
        double trained = run.TrainSecondsThisCall + elapsed;
        run.FirstStepSeconds ??= trained;
        // After the first step, the rate of the steps since it: at 32² the first step alone took as long as ten others,
        // and an ETA from the first 5 steps said 5:09 for 2:30 of training.
        double secondsPerStep = run.StepsThisCall > 1
            ? (trained - run.FirstStepSeconds.Value) / (run.StepsThisCall - 1)
            : trained;
        Progress?.Invoke(new TrainingProgress
        {
            Phase = ProgressPhase.Step, Epoch = tally.Epoch + 1, Epochs = Options.Epochs, Step = tally.Batches, StepsPerEpoch = run.StepsPerEpoch,
            GlobalStep = run.State.GlobalStep, Loss = tally.LossSum / tally.Seen, Accuracy = (double)tally.Correct / tally.Seen,
            LearningRate = tally.LearningRate, ImagesPerSecond = tally.SeenThisCall / Math.Max(elapsed, 1e-9),
            Eta = TimeSpan.FromSeconds(secondsPerStep * (run.TotalSteps - run.State.GlobalStep)),
        });
    }

    private void ReportEpochEnd(TrainingRun run, EpochMetrics metrics) => Progress?.Invoke(new TrainingProgress
    {
        Phase = ProgressPhase.EpochEnd, Epoch = metrics.Epoch, Epochs = Options.Epochs, Step = run.StepsPerEpoch, StepsPerEpoch = run.StepsPerEpoch,
        GlobalStep = run.State.GlobalStep, Loss = metrics.TrainLoss, Accuracy = metrics.TrainAccuracy, LearningRate = metrics.LearningRate,
        ImagesPerSecond = metrics.ImagesPerSecond, Metrics = metrics,
        Eta = TimeSpan.FromSeconds(run.Clock.Elapsed.TotalSeconds / Math.Max(1, run.StepsThisCall) * (run.TotalSteps - run.State.GlobalStep)),
    });

    private OptimizerHelper CreateOptimizer(ResNetModel model) => Options.Optimizer switch
    {
        OptimizerKind.AdamW => new HeldScalarAdamW(model.parameters(), Options.LearningRate, Options.WeightDecay),
        _ => new HeldScalarSgd(model.parameters(), Options.LearningRate, Options.Momentum, Options.WeightDecay,
            nesterov: Options.Nesterov && Options.Momentum > 0),
    };

    /// <summary>Stops after a cancellation: saves the state to resume from (with a run directory).</summary>
    private static TrainingResult Interrupt(TrainingRun run)
    {
        if (run.LastPath is not null) SaveLast(run);
        return Result(run, null, interrupted: true);
    }

    /// <summary>The last checkpoint: weights, optimiser and the state with torch's RNG, everything an exact resume needs.</summary>
    private static void SaveLast(TrainingRun run)
    {
        using var rng = random.get_rng_state();
        var bytes = rng.data<byte>().ToArray();
        Checkpoint.Save(run.LastPath!, run.Model, run.Card, run.Optimizer, run.State with { TorchRngState = Convert.ToBase64String(bytes) });
    }

    private void WriteReports(List<EpochMetrics> history, ConfusionMatrix? confusion, IReadOnlyList<string> classNames)
    {
        MetricsLog.Write(RunDirectory!, history);
        Plots.WriteCurves(RunDirectory!, history);
        if (confusion is not null)
            Plots.WriteConfusion(Path.Combine(RunDirectory!, "confusion.png"), confusion, classNames, $"Validation confusion, epoch {history[^1].Epoch}");
    }

    private static TrainingResult Result(TrainingRun run, ConfusionMatrix? confusion, bool interrupted) => new()
    {
        History = run.History, Interrupted = interrupted, BestAccuracy = run.State.BestAccuracy, BestEpoch = run.State.BestEpoch,
        LastCheckpoint = run.LastPath, BestCheckpoint = run.BestPath is not null && Directory.Exists(run.BestPath) ? run.BestPath : null,
        ValidationConfusion = confusion, Elapsed = run.Clock.Elapsed, PeakRssBytes = PeakMemory.PeakRssBytes(),
    };
}
