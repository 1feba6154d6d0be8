using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Tests;

/// <summary>The trainer: schedules, exact resume, atomic checkpoints, the NaN guard, and real learning on CIFAR-10 images.</summary>
public class TrainingTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    private string Temp() => scratch.New();

    public void Dispose() => scratch.Dispose();

    private static readonly ResNetConfig TinyConfig = new()
    {
        NumClasses = 4, Stem = StemKind.Small, BlocksPerStage = [1, 1, 1, 1], Widths = [16, 16, 16, 16],
    };

    private static TrainingOptions TinyOptions(OptimizerKind optimizer = OptimizerKind.Sgd) => new()
    {
        Epochs = 2, BatchSize = 8, LearningRate = optimizer == OptimizerKind.Sgd ? 0.05 : 3e-3, Optimizer = optimizer,
        Schedule = ScheduleKind.OneCycle, Seed = 11, Workers = 2, ClipGradNorm = 5,
    };

    /// <summary>A tiny network with the same initial weights every time, whatever other tests do to torch's global RNG.</summary>
    private static ResNetModel TinyModel(IReadOnlyDictionary<string, Tensor>? initial = null)
    {
        var model = new ResNetModel(TinyConfig);
        if (initial is not null) WeightsFile.LoadInto(model, initial, "initial weights");
        return model;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Dictionary<string, Tensor> Snapshot(ResNetModel model) =>
        model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

    [Fact]
    public void One_cycle_and_cosine_schedules_have_the_documented_shape()
    {
        var one = new LearningRateSchedule(new TrainingOptions { Epochs = 10, LearningRate = 0.1, Schedule = ScheduleKind.OneCycle });
        Assert.Equal(0.1 / 25, one.At(0, 1000), 12);
        Assert.Equal(0.1, one.At(300, 1000), 6);
        Assert.True(one.At(150, 1000) is > 0.004 and < 0.1);
        Assert.Equal(0.1 / 25 / 1e4, one.At(999, 1000), 12);
        var cos = new LearningRateSchedule(new TrainingOptions { Epochs = 10, LearningRate = 0.2, Schedule = ScheduleKind.Cosine, WarmupEpochs = 1 });
        Assert.Equal(0.2 / 100, cos.At(0, 1000), 12);
        Assert.Equal(0.2, cos.At(100, 1000), 6);
        Assert.Equal(0.1, cos.At(550, 1000), 6);
        Assert.True(cos.At(999, 1000) < 1e-5);
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd, 3)]   // stopped mid-epoch
    [InlineData(OptimizerKind.AdamW, 4)] // stopped at the last step of epoch 1 (4 batches per epoch): during validation
    public void Interrupted_and_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(OptimizerKind optimizer, int stopAfter)
    {
        var data = DataTests.Tiny(40, 4, 12, seed: 2);
        var (train, val) = SubsetDataset.Split(data, 0.2, seed: 1);
        using var init = TinyModel();
        var initial = Snapshot(init);

        string dirA = Temp();
        using var a = TinyModel(initial);
        var resultA = new Trainer(TinyOptions(optimizer)) { RunDirectory = dirA }.Fit(a, train, val);
        Assert.False(resultA.Interrupted);

        string dirB = Temp();
        using var cts = new CancellationTokenSource();
        using var b1 = TinyModel(initial);
        var first = new Trainer(TinyOptions(optimizer))
        {
            RunDirectory = dirB,
            Progress = p => { if (p.Phase == ProgressPhase.Step && p.GlobalStep == stopAfter) cts.Cancel(); },
        }.Fit(b1, train, val, cancellation: cts.Token);
        Assert.True(first.Interrupted);
        var saved = Checkpoint.ReadState(Trainer.CheckpointPath(dirB, Trainer.LastName));
        Assert.Equal(stopAfter, saved.GlobalStep);

        using var b2 = TinyModel(); // different weights: everything must come from the checkpoint
        var second = new Trainer(TinyOptions(optimizer)) { RunDirectory = dirB }.Fit(b2, train, val, resume: true);
        Assert.False(second.Interrupted);

        var wa = a.state_dict();
        foreach (var (key, tensor) in b2.state_dict())
            Assert.True(Same(tensor, wa[key]), $"{key} differs after resume");
        Assert.Equal(resultA.History.Select(m => (m.TrainLoss, m.ValLoss, m.ValTop1)), second.History.Select(m => (m.TrainLoss, m.ValLoss, m.ValTop1)));
        // The last checkpoint on disk holds the same final weights and loads as plain weights (what predict uses).
        var (loaded, card) = WeightsFile.Load(Path.Combine(Trainer.CheckpointPath(dirB, Trainer.LastName), Checkpoint.ModelFile));
        using (loaded)
        {
            Assert.Equal(new[] { "class0", "class1", "class2", "class3" }, card.ClassNames);
            Assert.Equal(12, card.Preprocessing.Crop);
            Assert.True(Same(loaded.state_dict()["fc.weight"], wa["fc.weight"]));
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(64)]
    public void Convolution_input_gradients_at_the_papers_widths_match_float64(int channels) =>
        Assert.True(OneDnnGradientGuard.InputGradientIsRight(channels));

    [Fact]
    public void Training_a_network_narrower_than_16_channels_is_refused_where_libtorch_gets_its_gradients_wrong()
    {
        // Refused on every CPU unless oneDNN's instruction set was chosen (see OneDnnGradientGuard).
        using var model = new ResNetModel(TinyConfig with { Widths = [8, 16, 16, 16] });
        var fit = () => new Trainer(TinyOptions() with { Epochs = 1 }).Fit(model, DataTests.Tiny(16, 4, 12, seed: 3));
        if (Environment.GetEnvironmentVariable(OneDnnGradientGuard.IsaVariable) is { Length: > 0 })
            Assert.All(fit().History, m => Assert.True(double.IsFinite(m.TrainLoss)));
        else
            Assert.Contains("ONEDNN_MAX_CPU_ISA=AVX", Assert.Throws<NotSupportedException>(fit).Message);
    }

    /// <summary>A tiny model trained for one epoch into a new run directory, and its last checkpoint: where the checkpoint tests start.</summary>
    private (IDataset Data, string Dir, ResNetModel Model, string Last) OneEpochRun(int seed)
    {
        var data = DataTests.Tiny(24, 4, 12, seed);
        string dir = Temp();
        var model = TinyModel();
        new Trainer(TinyOptions() with { Epochs = 1 }) { RunDirectory = dir }.Fit(model, data);
        return (data, dir, model, Trainer.CheckpointPath(dir, Trainer.LastName));
    }

    [Fact]
    public void A_failed_checkpoint_write_leaves_the_previous_one_loadable()
    {
        var (data, dir, trained, last) = OneEpochRun(seed: 4);
        using var model = trained;
        string before = WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile));

        // A crash after the new weights were half written: the temporary folder is left behind, the old checkpoint untouched.
        using (no_grad()) model.Head.weight.add_(1);
        Checkpoint.BeforeCommit = tmp =>
        {
            var bytes = File.ReadAllBytes(Path.Combine(tmp, Checkpoint.ModelFile));
            File.WriteAllBytes(Path.Combine(tmp, Checkpoint.ModelFile), bytes[..(bytes.Length / 2)]);
            throw new IOException("simulated crash mid-write");
        };
        try
        {
            Assert.Throws<IOException>(() => Checkpoint.Save(last, model, new ModelCard { Architecture = model.Config }, null, new TrainerState()));
        }
        finally
        {
            Checkpoint.BeforeCommit = null;
        }
        Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(last)!, "last.tmp-*"));
        Assert.Equal(last, Checkpoint.Resolve(last));
        Assert.Equal(before, WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile)));
        var (reloaded, _) = WeightsFile.Load(Path.Combine(last, Checkpoint.ModelFile));
        reloaded.Dispose();
        Assert.Equal(1, Checkpoint.ReadState(last).Epoch);

        // A crash between the two renames leaves only last.old: it is found, and a resume continues from it.
        Directory.Move(last, last + ".old");
        Assert.Equal(last + ".old", Checkpoint.Resolve(last));
        using var resumed = TinyModel();
        var result = new Trainer(TinyOptions() with { Epochs = 2 }) { RunDirectory = dir }.Fit(resumed, data, resume: true);
        Assert.Equal(2, result.History.Count);
        Assert.Equal(2, Checkpoint.ReadState(last).Epoch);
        Assert.False(Directory.Exists(last + ".old"));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(last)!, "last.tmp-*"));
    }

    [Fact]
    public void A_checkpoint_write_that_fails_on_its_second_thread_reports_its_own_error_and_keeps_the_previous_one()
    {
        var (_, _, trained, last) = OneEpochRun(seed: 7);
        using var model = trained;
        string before = WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile));
        using (no_grad()) model.Head.weight.add_(1);
        using var failing = new FailingOptimizer(model);

        // The optimiser state is written beside the weights, on another thread: its error arrives as itself.
        var error = Assert.Throws<IOException>(() => Checkpoint.Save(last, model, new ModelCard { Architecture = model.Config }, failing, new TrainerState()));
        Assert.Equal(FailingOptimizer.Message, error.Message);
        Assert.Equal(last, Checkpoint.Resolve(last));
        Assert.Equal(before, WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile)));
    }

    /// <summary>SGD whose state cannot be read, as when its file cannot be written.</summary>
    private sealed class FailingOptimizer(ResNetModel model) : TorchSharp.Modules.SGD(model.parameters(), 0.1)
    {
        public const string Message = "simulated: no space left on device";
        public override StateDictionary state_dict() => throw new IOException(Message);
    }

    [Fact]
    public void The_best_checkpoint_holds_the_weights_of_its_epoch_without_optimiser_state()
    {
        var (data, dir, trained, last) = OneEpochRun(seed: 6);
        using var model = trained;
        string best = Trainer.CheckpointPath(dir, Trainer.BestName);
        string Weights(string folder) => Path.Combine(folder, Checkpoint.ModelFile);

        // Epoch 1 is the best so far: its weights, as the last checkpoint holds them, and the state without the RNG.
        Assert.Equal(WeightsFile.Sha256(Weights(last)), WeightsFile.Sha256(Weights(best)));
        Assert.False(File.Exists(Path.Combine(best, Checkpoint.OptimizerFile)));
        var state = Checkpoint.ReadState(best);
        Assert.Equal(1, state.Epoch);
        Assert.Equal(1, state.BestEpoch);
        Assert.Null(state.TorchRngState);
        var (reloaded, card) = WeightsFile.Load(Weights(best));
        using (reloaded)
            Assert.True(reloaded.Head.weight.equal(model.Head.weight).all().item<bool>());
        Assert.Equal(WeightsFile.Sha256(Weights(best)), card.WeightsSha256);

        // After epoch 2 the best checkpoint is epoch 2's weights or still epoch 1's, as the state says.
        string epoch1 = WeightsFile.Sha256(Weights(best));
        new Trainer(TinyOptions() with { Epochs = 2 }) { RunDirectory = dir }.Fit(model, data, resume: true);
        string expected = Checkpoint.ReadState(last).BestEpoch == 2 ? WeightsFile.Sha256(Weights(last)) : epoch1;
        Assert.Equal(expected, WeightsFile.Sha256(Weights(best)));
        Assert.Equal(Checkpoint.ReadState(last).BestEpoch, Checkpoint.ReadState(best).Epoch);
    }

    [Fact]
    public void A_nan_loss_stops_the_run_naming_epoch_step_and_rate_and_keeps_the_last_checkpoint()
    {
        var (data, dir, trained, last) = OneEpochRun(seed: 5);
        using var model = trained;
        string before = WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile));

        using var resumed = TinyModel();
        var e = Assert.Throws<NonFiniteLossException>(() =>
            new Trainer(TinyOptions() with { Epochs = 2 }) { RunDirectory = dir }.Fit(resumed, new NaNData(data), resume: true));
        Assert.Equal(2, e.Epoch);
        Assert.Equal(1, e.Step);
        Assert.Contains("epoch 2, step 1", e.Message);
        Assert.Contains("learning rate", e.Message);
        Assert.Contains(last, e.Message);
        Assert.Equal(before, WeightsFile.Sha256(Path.Combine(last, Checkpoint.ModelFile)));
        Assert.Equal(1, Checkpoint.ReadState(last).Epoch);
    }

    [Fact]
    public void Training_on_cifar10_images_lowers_the_loss_and_writes_metrics_and_plots()
    {
        var preprocessing = DataSource.FolderPreprocessing(32);
        using var all = ImageFolderDataset.Open(Path.Combine(TestPaths.Cifar10, "train"), preprocessing);
        // 30 images per class, the first of each class folder.
        var picked = Enumerable.Range(0, all.Count).GroupBy(all.LabelOf).SelectMany(g => g.Take(30)).ToArray();
        var train = new SubsetDataset(all, picked);
        using var test = ImageFolderDataset.Open(Path.Combine(TestPaths.Cifar10, "test"), preprocessing, all.ClassNames);
        var val = new SubsetDataset(test, Enumerable.Range(0, test.Count).Where(i => i % 10 == 0).ToArray());
        string dir = Temp();
        torch.manual_seed(3);
        // ResNet18's layout with a quarter of the filters keeps the test quick; the small stem works at 32² as CIFAR needs.
        using var model = new ResNetModel(ResNetConfig.ResNet18(10, StemKind.Small) with { Widths = [16, 32, 64, 128] });
        var steps = new List<TrainingProgress>();
        var options = new TrainingOptions { Epochs = 3, BatchSize = 32, Optimizer = OptimizerKind.AdamW, LearningRate = 3e-3, WeightDecay = 0.05, Schedule = ScheduleKind.OneCycle, Seed = 3 };
        var result = new Trainer(options) { RunDirectory = dir, Progress = steps.Add }.Fit(model, train, val);

        Assert.Equal(3, result.History.Count);
        Assert.True(result.History[2].TrainLoss < result.History[0].TrainLoss * 0.9,
            $"training loss did not fall: {string.Join(", ", result.History.Select(m => m.TrainLoss))}");
        Assert.All(result.History, m => Assert.NotNull(m.ValTop5));
        Assert.Equal(3 * 10, steps.Count(p => p.Phase == ProgressPhase.Step));
        Assert.Equal(3, steps.Count(p => p.Phase == ProgressPhase.EpochEnd));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);
        Assert.Contains("\"val_top1\"", File.ReadAllText(Path.Combine(dir, "metrics.json")));
        foreach (var png in new[] { "loss.png", "accuracy.png", "confusion.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, png));
            Assert.True(bytes.Length > 5000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
        }
        Assert.NotNull(result.PeakRssBytes);
        Assert.True(Directory.Exists(result.BestCheckpoint));
    }

    [Fact]
    public void Confusion_matrix_report_counts_per_class()
    {
        var m = new ConfusionMatrix(3);
        foreach (var (a, p) in new[] { (0, 0), (0, 0), (0, 1), (1, 1), (2, 1), (2, 2) }) m.Add(a, p);
        Assert.Equal(3, m.Support(0));
        Assert.Equal(2.0 / 3, m.Recall(0), 9);
        Assert.Equal(1.0 / 3, m.Precision(1), 9);
        string path = Path.Combine(Temp(), "r.csv");
        m.WriteReport(path, ["a", "b,c", "d"]);
        var lines = File.ReadAllLines(path);
        Assert.Equal("class,support,correct,precision,recall,f1", lines[0]);
        Assert.StartsWith("\"b,c\",1,1,0.3333,1.0000", lines[2]);
    }

    /// <summary>Wraps a dataset and poisons every sample with NaN.</summary>
    private sealed class NaNData(IDataset inner) : IDataset
    {
        public int Count => inner.Count;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;
        public ResNet.Training.Imaging.Preprocessing Preprocessing => inner.Preprocessing;
        public SkippedFiles Skipped => inner.Skipped;
        public int LabelOf(int index) => inner.LabelOf(index);
        public bool TryRead(int index, Random? augment, Span<float> dest)
        {
            inner.TryRead(index, augment, dest);
            dest[0] = float.NaN;
            return true;
        }
    }
}
