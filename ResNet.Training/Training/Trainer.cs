using System.Diagnostics;
using ResNet.Training.Data;
using ResNet.Training.Model;
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
        if (model.Config.NumClasses != train.ClassNames.Count)
            throw new ArgumentException($"The model has {model.Config.NumClasses} outputs but the data has {train.ClassNames.Count} classes.");
        if (validation is not null && !validation.ClassNames.SequenceEqual(train.ClassNames))
            throw new ArgumentException("The validation data's classes differ from the training data's.");
        var clock = Stopwatch.StartNew();
        var card = new ModelCard { Architecture = model.Config, ClassNames = train.ClassNames.ToArray(), Preprocessing = train.Preprocessing };
        string? lastPath = RunDirectory is null ? null : CheckpointPath(RunDirectory, LastName);
        string? bestPath = RunDirectory is null ? null : CheckpointPath(RunDirectory, BestName);

        TrainerState state = new() { Options = Options };
        string? resumedFrom = null;
        if (resume)
        {
            if (lastPath is null) throw new InvalidOperationException("Resuming needs a run directory.");
            resumedFrom = Checkpoint.Resolve(lastPath)
                ?? throw new FileNotFoundException($"No checkpoint to resume in {RunDirectory} (expected {lastPath}/{Checkpoint.StateFile}).");
            var saved = Checkpoint.ReadState(resumedFrom);
            Options = saved.Options with { Epochs = Options.Epochs, Workers = Options.Workers };
            state = saved with { Options = Options };
        }

        OneDnnGradientGuard.Check(model, device);
        model.to(device);
        model.train();
        using var optimizer = CreateOptimizer(model);
        if (resumedFrom is not null)
        {
            Checkpoint.Restore(resumedFrom, model, optimizer);
            if (state.TorchRngState is { } rng)
                using (var t = tensor(Convert.FromBase64String(rng), ScalarType.Byte)) random.set_rng_state(t);
        }

        var loader = new DataLoader(train, Options.BatchSize, train: true, Options.Seed, Options.Workers);
        int stepsPerEpoch = loader.BatchesPerEpoch;
        long totalSteps = (long)stepsPerEpoch * Options.Epochs;
        var schedule = new LearningRateSchedule(Options);
        var history = new List<EpochMetrics>(state.History);
        ConfusionMatrix? confusion = null;
        long stepsThisCall = 0;
        double trainSecondsThisCall = 0;
        string? goodCheckpoint = resumedFrom;

        for (int epoch = state.Epoch; epoch < Options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            int startBatch = epoch == state.Epoch ? state.BatchInEpoch : 0;
            double lossSum = startBatch > 0 ? state.EpochLossSum : 0;
            long correct = startBatch > 0 ? state.EpochCorrect : 0, seen = startBatch > 0 ? state.EpochSeen : 0;
            if (startBatch == 0) random.manual_seed(SampleRandom.Seed(Options.Seed, epoch, 0x70C4));
            long seenThisCall = 0;
            double lr = schedule.At(Math.Max(0, state.GlobalStep - 1), totalSteps);
            int batchInEpoch = startBatch;

            foreach (var batch in loader.Epoch(epoch, startBatch))
            {
                lr = schedule.At(state.GlobalStep, totalSteps);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                var (loss, right) = Step(model, optimizer, batch, train.SampleShape);
                if (!double.IsFinite(loss))
                    throw new NonFiniteLossException(epoch + 1, batch.Number + 1, lr, loss, goodCheckpoint);
                lossSum += loss * batch.Count;
                correct += right;
                seen += batch.Count;
                seenThisCall += batch.Count;
                batchInEpoch = batch.Number + 1;
                state = state with { GlobalStep = state.GlobalStep + 1 };
                stepsThisCall++;
                double elapsed = epochClock.Elapsed.TotalSeconds;
                double secondsPerStep = (trainSecondsThisCall + elapsed) / stepsThisCall;
                Progress?.Invoke(new TrainingProgress
                {
                    Phase = ProgressPhase.Step, Epoch = epoch + 1, Epochs = Options.Epochs, Step = batchInEpoch, StepsPerEpoch = stepsPerEpoch,
                    GlobalStep = state.GlobalStep, Loss = lossSum / seen, Accuracy = (double)correct / seen, LearningRate = lr,
                    ImagesPerSecond = seenThisCall / Math.Max(elapsed, 1e-9),
                    Eta = TimeSpan.FromSeconds(secondsPerStep * (totalSteps - state.GlobalStep)),
                });
                if (cancellation.IsCancellationRequested && batchInEpoch < stepsPerEpoch)
                {
                    state = state with { Epoch = epoch, BatchInEpoch = batchInEpoch, EpochLossSum = lossSum, EpochCorrect = correct, EpochSeen = seen };
                    return Interrupt(model, card, optimizer, state, history, clock, lastPath, bestPath);
                }
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;
            trainSecondsThisCall += trainSeconds;
            if (seen == 0) throw new InvalidDataException($"No readable training samples in epoch {epoch + 1} ({train.Skipped.Summary()}).");

            EvaluationResult? val = null;
            if (validation is not null)
            {
                Progress?.Invoke(new TrainingProgress { Phase = ProgressPhase.Validating, Epoch = epoch + 1, Epochs = Options.Epochs, StepsPerEpoch = stepsPerEpoch, Step = stepsPerEpoch, GlobalStep = state.GlobalStep });
                try
                {
                    val = Evaluator.Evaluate(model, validation, device, Math.Max(Options.BatchSize, 64), Options.Workers, cancellation);
                }
                catch (OperationCanceledException)
                {
                    // Every batch is trained: the resumed run starts at this epoch's validation.
                    state = state with { Epoch = epoch, BatchInEpoch = stepsPerEpoch, EpochLossSum = lossSum, EpochCorrect = correct, EpochSeen = seen };
                    return Interrupt(model, card, optimizer, state, history, clock, lastPath, bestPath);
                }
                confusion = val.Confusion;
            }
            var metrics = new EpochMetrics
            {
                Epoch = epoch + 1, LearningRate = lr, TrainLoss = lossSum / seen, TrainAccuracy = (double)correct / seen,
                ValLoss = val?.Loss, ValTop1 = val?.Top1, ValTop5 = val?.Top5,
                ImagesPerSecond = seenThisCall / Math.Max(trainSeconds, 1e-9), Seconds = epochClock.Elapsed.TotalSeconds,
            };
            history.Add(metrics);
            double score = val?.Top1 ?? metrics.TrainAccuracy;
            bool best = state.BestAccuracy is not { } b || score > b;
            state = state with
            {
                Epoch = epoch + 1, BatchInEpoch = 0, EpochLossSum = 0, EpochCorrect = 0, EpochSeen = 0, History = history.ToList(),
                BestAccuracy = best ? score : state.BestAccuracy, BestEpoch = best ? epoch + 1 : state.BestEpoch,
            };
            if (RunDirectory is not null)
            {
                SaveLast(model, card, optimizer, state, lastPath!);
                goodCheckpoint = lastPath;
                if (best) Checkpoint.Save(bestPath!, model, card, null, state);
                WriteReports(history, confusion, train.ClassNames);
            }
            Progress?.Invoke(new TrainingProgress
            {
                Phase = ProgressPhase.EpochEnd, Epoch = epoch + 1, Epochs = Options.Epochs, Step = stepsPerEpoch, StepsPerEpoch = stepsPerEpoch,
                GlobalStep = state.GlobalStep, Loss = metrics.TrainLoss, Accuracy = metrics.TrainAccuracy, LearningRate = lr,
                ImagesPerSecond = metrics.ImagesPerSecond, Metrics = metrics,
                Eta = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / Math.Max(1, stepsThisCall) * (totalSteps - state.GlobalStep)),
            });
            if (cancellation.IsCancellationRequested && epoch + 1 < Options.Epochs)
                return Result(state, history, confusion, clock, lastPath, bestPath, interrupted: true);
        }
        return Result(state, history, confusion, clock, lastPath, bestPath, interrupted: false);
    }

    /// <summary>One optimiser step in its own dispose scope; returns the batch's mean loss and its correct predictions.</summary>
    private (double Loss, long Correct) Step(ResNetModel model, OptimizerHelper optimizer, Batch batch, long[] sampleShape)
    {
        using var scope = NewDisposeScope();
        var x = tensor(batch.Inputs, [batch.Count, .. sampleShape]).to(device);
        var y = tensor(batch.Labels).to(device);
        var logits = model.forward(x);
        var loss = nn.functional.cross_entropy(logits, y, label_smoothing: Options.LabelSmoothing);
        double value = loss.item<float>();
        if (!double.IsFinite(value)) return (value, 0);
        optimizer.zero_grad();
        loss.backward();
        if (Options.ClipGradNorm is { } clip) nn.utils.clip_grad_norm_(model.parameters(), clip);
        optimizer.step();
        long right;
        using (no_grad()) right = logits.argmax(1).eq(y).sum().item<long>();
        return (value, right);
    }

    private OptimizerHelper CreateOptimizer(ResNetModel model) => Options.Optimizer switch
    {
        OptimizerKind.AdamW => AdamW(model.parameters(), Options.LearningRate, weight_decay: Options.WeightDecay),
        _ => SGD(model.parameters(), Options.LearningRate, momentum: Options.Momentum, weight_decay: Options.WeightDecay,
            nesterov: Options.Nesterov && Options.Momentum > 0),
    };

    private TrainingResult Interrupt(ResNetModel model, ModelCard card, OptimizerHelper optimizer, TrainerState state,
        List<EpochMetrics> history, Stopwatch clock, string? lastPath, string? bestPath)
    {
        if (lastPath is not null) SaveLast(model, card, optimizer, state, lastPath);
        return Result(state, history, null, clock, lastPath, bestPath, interrupted: true);
    }

    private static void SaveLast(ResNetModel model, ModelCard card, OptimizerHelper optimizer, TrainerState state, string path)
    {
        using var rng = random.get_rng_state();
        var bytes = rng.data<byte>().ToArray();
        Checkpoint.Save(path, model, card, optimizer, state with { TorchRngState = Convert.ToBase64String(bytes) });
    }

    private void WriteReports(List<EpochMetrics> history, ConfusionMatrix? confusion, IReadOnlyList<string> classNames)
    {
        MetricsLog.Write(RunDirectory!, history);
        Plots.WriteCurves(RunDirectory!, history);
        if (confusion is not null)
            Plots.WriteConfusion(Path.Combine(RunDirectory!, "confusion.png"), confusion, classNames, $"Validation confusion, epoch {history[^1].Epoch}");
    }

    private static TrainingResult Result(TrainerState state, List<EpochMetrics> history, ConfusionMatrix? confusion, Stopwatch clock,
        string? lastPath, string? bestPath, bool interrupted) => new()
    {
        History = history, Interrupted = interrupted, BestAccuracy = state.BestAccuracy, BestEpoch = state.BestEpoch,
        LastCheckpoint = lastPath, BestCheckpoint = bestPath is not null && Directory.Exists(bestPath) ? bestPath : null,
        ValidationConfusion = confusion, Elapsed = clock.Elapsed, PeakRssBytes = PeakMemory.PeakRssBytes(),
    };
}
