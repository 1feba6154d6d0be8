using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ResNet.Training.Data;
using ResNet.Training.Engines;
using ResNet.Training.Model;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.Cli;

/// <summary>The <c>train</c> verb: trains ResNet18 on an image folder or Fashion-MNIST, with checkpoints, metrics and plots.</summary>
internal static class TrainCommand
{
    private static readonly Option<string> DataOption = new("--data")
    { Description = "A folder of class folders (optionally with train/, val/, test/), or fashion-mnist[:PATH] (IDX files; default PATH /usr/share/datasets/fashion-mnist)." };
    private static readonly Option<int> EpochsOption = new("--epochs") { Description = "Passes over the training data.", DefaultValueFactory = _ => 10 };
    private static readonly Option<int> BatchOption = new("--batch-size") { Description = "Images per step.", DefaultValueFactory = _ => 128 };
    private static readonly Option<double?> LrOption = new("--lr") { Description = "Peak learning rate (default 0.1 for sgd, 0.001 for adamw)." };
    private static readonly Option<string> OptimizerOption = new("--optimizer") { Description = "sgd (momentum 0.9, Nesterov) or adamw.", DefaultValueFactory = _ => "sgd" };
    private static readonly Option<string> ScheduleOption = new("--schedule") { Description = "onecycle, cosine or constant.", DefaultValueFactory = _ => "onecycle" };
    private static readonly Option<double?> WarmupOption = new("--warmup") { Description = "Warm-up epochs (fractions allowed); for onecycle the rising part, 30% of the run by default." };
    private static readonly Option<double> SmoothingOption = new("--label-smoothing") { Description = "Label smoothing of the loss.", DefaultValueFactory = _ => 0.1 };
    private static readonly Option<double?> DecayOption = new("--weight-decay") { Description = "Weight decay (default 5e-4 for sgd, 0.05 for adamw)." };
    private static readonly Option<double?> ClipOption = new("--clip-grad") { Description = "Clip the gradient norm to this value." };
    private static readonly Option<string> StemOption = new("--stem") { Description = "imagenet (7×7/2 + max-pool) or small (3×3/1, for 32² images).", DefaultValueFactory = _ => "imagenet" };
    private static readonly Option<int?> SizeOption = new("--image-size") { Description = "Network input side (default 32 for Fashion-MNIST and the small stem, else 224)." };
    private static readonly Option<string?> WeightsOption = new("--weights")
    { Description = "Start from these weights: a .pt state dict, 'imagenet' for torchvision's ImageNet ResNet18 (downloaded once, cached), or 'mlnet-imagenet[:PATH]' for ML.NET's (NuGet package " + MLNetImageNetWeights.PackageId + ", offline); the head is replaced when the classes differ.", HelpName = "W.pt|imagenet|mlnet-imagenet" };
    private static readonly Option<string?> FreezeOption = new("--freeze")
    {
        Description = "Freeze the pretrained backbone through layer1..layer4 (or 'backbone' = layer4, head only): the frozen part's activations are computed once " +
            "(without augmentation) and the later stages and the head train on them for every epoch, many times faster. Needs --weights.",
        HelpName = "layer1|layer2|layer3|layer4|backbone",
    };
    private static readonly Option<string?> CacheDirOption = new("--cache-dir") { Description = "Cache folder for --weights imagenet." };
    private static readonly Option<double> ValSplitOption = new("--val-split") { Description = "Fraction of the training data held out for validation when there is no val/ folder (0 = none).", DefaultValueFactory = _ => 0.1 };
    private static readonly Option<string?> OutputOption = new("--output") { Description = "Run folder (default runs/DATA-TIMESTAMP)." };
    private static readonly Option<bool> ResumeOption = new("--resume") { Description = "Continue the interrupted run in --output from its last checkpoint." };
    private static readonly Option<int> SeedOption = new("--seed") { Description = "Seed of initialisation, split, data order and augmentation.", DefaultValueFactory = _ => 1 };
    private static readonly Option<int?> ThreadsOption = new("--threads") { Description = "Torch CPU threads (default: all cores)." };
    private static readonly DeviceOptions DeviceOptions = new();
    private static readonly Option<int> WorkersOption = new("--workers") { Description = "Batches decoded and augmented ahead, in background threads.", DefaultValueFactory = _ => 3 };

    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("train", "Train ResNet18 on an image folder or Fashion-MNIST; writes checkpoints, metrics.csv/json and PNG plots to the run folder.");
        foreach (var o in new Option[] { DataOption, EpochsOption, BatchOption, LrOption, OptimizerOption, ScheduleOption, WarmupOption, SmoothingOption,
                     DecayOption, ClipOption, StemOption, SizeOption, WeightsOption, FreezeOption, CacheDirOption, ValSplitOption, OutputOption, ResumeOption, SeedOption,
                     ThreadsOption, WorkersOption })
            command.Options.Add(o);
        DeviceOptions.AddTo(command);
        CliAction.Set(command, (parse, token) => Run(Parse(parse), token, parse.GetResult(EpochsOption) is { Implicit: false }));
        return command;
    }

    private static TrainArguments Parse(ParseResult parse)
    {
        bool resume = parse.GetValue(ResumeOption);
        string? data = parse.GetValue(DataOption);
        if (!resume && string.IsNullOrWhiteSpace(data)) throw new ArgumentException("--data is required (a folder of class folders, or fashion-mnist[:PATH]).");
        var optimizer = parse.GetValue(OptimizerOption)!.ToLowerInvariant() switch
        {
            "sgd" => OptimizerKind.Sgd,
            "adamw" => OptimizerKind.AdamW,
            var o => throw new ArgumentException($"--optimizer {o}: use sgd or adamw."),
        };
        var schedule = parse.GetValue(ScheduleOption)!.ToLowerInvariant() switch
        {
            "onecycle" or "one-cycle" => ScheduleKind.OneCycle,
            "cosine" => ScheduleKind.Cosine,
            "constant" => ScheduleKind.Constant,
            var s => throw new ArgumentException($"--schedule {s}: use onecycle, cosine or constant."),
        };
        var stem = parse.GetValue(StemOption)!.ToLowerInvariant() switch
        {
            "imagenet" => StemKind.ImageNet,
            "small" => StemKind.Small,
            var s => throw new ArgumentException($"--stem {s}: use imagenet or small."),
        };
        int? freeze = parse.GetValue(FreezeOption)?.ToLowerInvariant() switch
        {
            null => null,
            "layer1" => 1, "layer2" => 2, "layer3" => 3, "layer4" or "backbone" => 4,
            var f => throw new ArgumentException($"--freeze {f}: use layer1, layer2, layer3, layer4 or backbone."),
        };
        if (freeze is not null && parse.GetValue(WeightsOption) is null && !resume)
            throw new ArgumentException("--freeze keeps pretrained layers fixed, so it needs --weights (e.g. mlnet-imagenet).");
        bool adam = optimizer == OptimizerKind.AdamW;
        return new TrainArguments
        {
            Data = data ?? "",
            Options = new TrainingOptions
            {
                Epochs = parse.GetValue(EpochsOption), BatchSize = parse.GetValue(BatchOption),
                LearningRate = parse.GetValue(LrOption) ?? (adam ? 1e-3 : 0.1), Optimizer = optimizer, Schedule = schedule,
                WarmupEpochs = parse.GetValue(WarmupOption), LabelSmoothing = parse.GetValue(SmoothingOption),
                WeightDecay = parse.GetValue(DecayOption) ?? (adam ? 0.05 : 5e-4), ClipGradNorm = parse.GetValue(ClipOption),
                Seed = parse.GetValue(SeedOption), Workers = parse.GetValue(WorkersOption),
            }.Validated(),
            Stem = stem, ImageSize = parse.GetValue(SizeOption), Weights = parse.GetValue(WeightsOption), FreezeThrough = freeze, CacheDirectory = parse.GetValue(CacheDirOption),
            ValidationFraction = parse.GetValue(ValSplitOption), Output = parse.GetValue(OutputOption), Resume = resume,
            Threads = parse.GetValue(ThreadsOption), Device = parse.GetValue(DeviceOptions.Device)!, GpuId = DeviceOptions.Gpu(parse),
        };
    }

    /// <summary>
    /// Trains as <paramref name="args"/> say, evaluates on the test split when the data has one, and prints where
    /// everything is. With <c>Resume</c>, the run's saved arguments are used (and <paramref name="epochsGiven"/> lets
    /// <c>--epochs</c> extend the run).
    /// </summary>
    public static int Run(TrainArguments args, CancellationToken cancellation, bool epochsGiven = false)
    {
        var clock = Stopwatch.StartNew();
        if (args.Resume)
        {
            if (args.Output is null) throw new ArgumentException("--resume needs --output RUN_DIR, the folder of the run to continue.");
            string saved = Path.Combine(args.Output, "run.json");
            if (!File.Exists(saved)) throw new FileNotFoundException($"{args.Output} is not a run folder: {saved} is missing.");
            var previous = TrainArguments.FromJson(saved);
            args = previous with
            {
                Output = args.Output, Resume = true, Threads = args.Threads, Device = args.Device, GpuId = args.GpuId,
                Options = previous.Options with { Epochs = epochsGiven ? args.Options.Epochs : previous.Options.Epochs },
            };
        }
        if (args.Threads is { } threads)
        {
            if (threads < 1) throw new ArgumentException($"--threads must be at least 1, not {threads}.");
            torch.set_num_threads(threads);
        }
        var device = TorchDevice.Resolve(TorchDevice.Parse(args.Device), args.GpuId);
        string runDir = Path.GetFullPath(args.Output ?? Path.Combine("runs",
            $"{SafeName(args.Data)}-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}"));
        OutputGuard.CheckFolder("--output", runDir, [args.Data, args.Weights]);
        if (!args.Resume && Checkpoint.Resolve(Trainer.CheckpointPath(runDir, Trainer.LastName)) is not null)
            throw new InvalidOperationException($"{runDir} already holds a run; continue it with --resume, or choose another --output.");

        var (initial, initialCard) = args.Weights is null || args.Resume ? (null, null) : EngineOptions.LoadWeights(args.Weights, args.CacheDirectory, cancellation);
        var stem = initialCard?.Architecture.Stem ?? args.Stem;
        // Weights trained on mean-image-subtracted input (mlnet-imagenet) need their own preprocessing, at its size.
        var weightsPreprocessing = initialCard?.Preprocessing is { MeanImage: not null } p ? p : null;
        if (weightsPreprocessing is not null && args.ImageSize is { } asked && asked != weightsPreprocessing.Crop)
            throw new ArgumentException($"--image-size {asked}: {args.Weights} subtracts a {weightsPreprocessing.Crop}² mean image, so it trains at {weightsPreprocessing.Crop} only.");
        int size = weightsPreprocessing?.Crop ?? args.ImageSize ?? DataSource.DefaultImageSize(stem, DataSource.IsFashionMnist(args.Data));
        using var data = DataSource.ForTraining(args.Data, size, args.ValidationFraction, args.Options.Seed, preprocessing: weightsPreprocessing);
        int classes = data.Train.ClassNames.Count;

        torch.manual_seed(args.Options.Seed);
        ResNetModel model;
        if (initial is not null)
        {
            model = initial;
            if (model.Config.NumClasses != classes) model.ReplaceHead(classes);
        }
        else
        {
            model = new ResNetModel(ResNetConfig.ResNet18(classes, stem));
        }
        using var _ = model;
        Directory.CreateDirectory(runDir);
        if (!args.Resume) File.WriteAllText(Path.Combine(runDir, "run.json"), args.ToJson());

        var o = args.Options;
        Console.WriteLine($"data: {args.Data} — {classes} classes, {data.Train.Count} training, {data.Validation?.Count ?? 0} validation, {data.Test?.Count ?? 0} test images; input {size}×{size}");
        int skippedReported = WriteSkipped(runDir, data.Skipped, alreadyReported: 0);
        Console.WriteLine(FormattableString.Invariant(
            $"model: ResNet18, {stem.ToString().ToLowerInvariant()} stem, {classes} outputs{(args.Weights is null ? "" : $", from {args.Weights}")}; device {device}, {torch.get_num_threads()} threads"));
        Console.WriteLine(FormattableString.Invariant(
            $"recipe: {o.Epochs} epochs, batch {o.BatchSize}, {o.Optimizer.ToString().ToLowerInvariant()} lr {o.LearningRate:G4} {o.Schedule.ToString().ToLowerInvariant()}, weight decay {o.WeightDecay:G3}, label smoothing {o.LabelSmoothing:G3}{(o.ClipGradNorm is { } cg ? $", clip {cg:G3}" : "")}, seed {o.Seed}"));
        Console.WriteLine($"run: {runDir}{(args.Resume ? " (resuming)" : "")}");

        var progress = ConsoleProgress.ForConsole();
        var trainer = new Trainer(o, device) { RunDirectory = runDir, Progress = progress.Report };
        TrainingResult result;
        if (args.FreezeThrough is { } frozen)
        {
            model.FreezeThrough(frozen);
            model.to(device);
            var train = CacheFrozen(model, frozen, data.Train, "training", o, cancellation, mirrored: true);
            var validation = data.Validation is null ? null : CacheFrozen(model, frozen, data.Validation, "validation", o, cancellation);
            model.InputStage = frozen;
            try
            {
                result = trainer.Fit(model, train, validation, args.Resume, cancellation);
            }
            finally
            {
                model.InputStage = 0;
            }
        }
        else
        {
            result = trainer.Fit(model, data.Train, data.Validation, args.Resume, cancellation);
        }

        WriteSkipped(runDir, data.Skipped, skippedReported);
        if (result.Interrupted)
        {
            Console.WriteLine();
            Console.WriteLine($"interrupted: checkpoint saved to {result.LastCheckpoint}");
            Console.WriteLine($"continue with: resnet train --resume --output {runDir}");
            return CliAction.Cancelled;
        }

        if (data.Test is not null)
        {
            var test = Evaluator.Evaluate(model, data.Test, device, Math.Max(o.BatchSize, 64), o.Workers, cancellation);
            var (csv, png) = EvaluationReport.Write(test, data.Test.ClassNames, runDir, "test", $"Test confusion ({test.Samples} images)");
            Console.WriteLine(FormattableString.Invariant($"test loss {test.Loss:F4}") + (test.Top5 is { } t5 ? FormattableString.Invariant($", top-5 {t5:F4}") : ""));
            Console.WriteLine(FormattableString.Invariant($"test accuracy: {test.Top1:F3}"));
            Console.WriteLine($"test report: {csv}, {png}");
        }
        Console.WriteLine($"run directory: {runDir}");
        Console.WriteLine($"checkpoints: {result.LastCheckpoint}/model.pt (last){(result.BestCheckpoint is null ? "" : $", {result.BestCheckpoint}/model.pt (best, epoch {result.BestEpoch})")}");
        Console.WriteLine($"plots: {Path.Combine(runDir, "loss.png")}, {Path.Combine(runDir, "accuracy.png")}{(data.Validation is null ? "" : $", {Path.Combine(runDir, "confusion.png")}")}");
        Console.WriteLine($"metrics: {Path.Combine(runDir, "metrics.csv")}, {Path.Combine(runDir, "metrics.json")}");
        Console.WriteLine(FormattableString.Invariant($"wall time {clock.Elapsed.TotalSeconds:F0} s, peak RSS {PeakMemory.Describe(PeakMemory.PeakRssBytes())}"));
        return 0;
    }

    /// <summary>
    /// Computes the frozen part's activations of <paramref name="data"/> once, with progress; for the training split
    /// (<paramref name="mirrored"/>) of each image and its mirror, so that training keeps the flip augmentation.
    /// </summary>
    private static FrozenFeatureCache CacheFrozen(ResNetModel model, int stage, IDataset data, string split, TrainingOptions o,
        CancellationToken cancellation, bool mirrored = false)
    {
        var clock = Stopwatch.StartNew();
        int reported = 0;
        var cache = FrozenFeatureCache.Build(model, stage, data, Math.Max(o.BatchSize, 32), o.Workers, (done, total) =>
        {
            if (done * 10 / total <= reported && done < total) return;
            reported = done * 10 / total;
            Console.WriteLine(FormattableString.Invariant(
                $"caching layer{stage} activations of the {split} images{(mirrored ? " and their mirror images" : "")}: {done}/{total} ({done / clock.Elapsed.TotalSeconds:F1} img/s)"));
        }, cancellation, mirrored);
        Console.WriteLine(FormattableString.Invariant(
            $"cached {cache.Count} {split} samples{(mirrored ? " (two views each)" : "")} of {string.Join("×", cache.SampleShape)} in {clock.Elapsed.TotalSeconds:F0} s"));
        return cache;
    }

    /// <summary>
    /// Writes skipped.txt and prints the summary once: at the start for what the folder scan found, and again at the
    /// end only when training found more. Returns the count reported.
    /// </summary>
    private static int WriteSkipped(string runDir, SkippedFiles skipped, int alreadyReported)
    {
        if (skipped.Count == alreadyReported) return alreadyReported;
        File.WriteAllLines(Path.Combine(runDir, "skipped.txt"), skipped.Entries.Select(e => $"{e.Path}\t{e.Reason}"));
        Console.WriteLine($"data: {skipped.Summary()} (list in {Path.Combine(runDir, "skipped.txt")})");
        return skipped.Count;
    }

    private static string SafeName(string data)
    {
        string name = DataSource.IsFashionMnist(data) ? DataSource.FashionMnistPrefix
            : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(data)));
        return string.Concat(name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' ? ch : '-'));
    }
}
