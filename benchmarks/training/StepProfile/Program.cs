// Where a training step's time goes: the trainer's data loader, network and optimiser (HeldScalarSgd) at 32², batch
// 128, timed per phase; the PyTorch side is `train_bench_torch.py fashion … --profile`. Found with it: the SGD step
// paying page faults for its temporaries (Native/GlibcMallocTuning.cs).
//
// usage: dotnet run -c Release --project benchmarks/training/StepProfile -- [DATA] [--epochs N] [--threads N (2)]
//        [--optimizer-only] [--loader-only] [--alternate-prebuilt] [--ops [--rounds N]] [--small-maps]
//   DATA defaults to fashion-mnist:data/fashion-mnist-small (run from the repository root); 80 % goes to validation
//   as in the suite's train32 workloads, so an epoch is 16 steps. --optimizer-only times opt.step() alone on one
//   batch's gradients (10 calls, three rounds). --alternate-prebuilt builds every second epoch's batches before its
//   clock starts, so the loader's threads do nothing during those steps: alternating within one process compares the
//   two on the same minute of this drifting VM. --ops times the step's kernels outside oneDNN (BatchNorm, ReLU, the
//   residual add, the stem's max-pool), forward and backward, on their shapes in the network, summed per step;
//   benchmarks/training/ops_torch.py is the same for PyTorch. --small-maps times layer4's convolutions at 32² input
//   (1×1 maps; its first one on 2×2 maps, stride 2), forward and backward, with the full 3×3 kernel (the Conv2d
//   module) and without the taps that only meet padding (Model/PaddingOnlyTaps.cs).
using System.Diagnostics;
using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Training;
using static TorchSharp.torch;

// The position of an option's value, -1 when the option is absent.
int ValueAt(string option) => Array.IndexOf(args, option) is var i and >= 0 ? i + 1 : -1;
int epochsAt = ValueAt("--epochs"), threadsAt = ValueAt("--threads"), roundsAt = ValueAt("--rounds");
int epochs = epochsAt > 0 ? int.Parse(args[epochsAt]) : 3;
string data = args.Where((a, i) => !a.StartsWith("--") && i != epochsAt && i != threadsAt && i != roundsAt).FirstOrDefault()
    ?? "fashion-mnist:data/fashion-mnist-small";
set_num_threads(threadsAt > 0 ? int.Parse(args[threadsAt]) : 2);
manual_seed(1);
if (args.Contains("--small-maps"))
{
    foreach (var (inChannels, side, stride) in new[] { (512L, 1L, 1L), (256L, 2L, 2L) })
    {
        using var conv = nn.Conv2d(inChannels, 512, 3, stride: stride, padding: 1, bias: false);
        using var x = randn(128, inChannels, side, side).requires_grad_();
        for (int round = 0; round < 3; round++)
        {
            double whole = 0, trimmed = 0;
            for (int i = 0; i < 20; i++)
            {
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                conv.call(x).sum().backward();
                whole += clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                PaddingOnlyTaps.ConvolveByLiveTaps(conv, x)!.sum().backward();
                trimmed += clock.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"{inChannels}→512 on {side}×{side}, stride {stride}, batch 128, forward and backward: full kernel {whole / 20:F2} ms, live taps only {trimmed / 20:F2} ms");
        }
    }
    return;
}
if (args.Contains("--ops"))
{
    NonConvolutionOps.Run(roundsAt > 0 ? int.Parse(args[roundsAt]) : 5);
    return;
}

using var source = DataSource.ForTraining(data, 32, validationFraction: 0.8, seed: 1);
using var model = ResNetModel.ResNet18(source.Train.ClassNames.Count);
model.train();
using var optimizer = new HeldScalarSgd(model.parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true);

if (args.Contains("--optimizer-only"))
{
    var batch = new DataLoader(source.Train, 128, train: true, seed: 1).Epoch(0).First();
    nn.functional.cross_entropy(model.forward(batch.InputTensor([3, 32, 32])), tensor(batch.Labels)).backward();
    for (int round = 0; round < 3; round++)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 10; i++) optimizer.step();
        Console.WriteLine($"optimizer step: {clock.Elapsed.TotalMilliseconds / 10:F1} ms ({model.parameters().Count()} tensors, {model.parameters().Sum(p => p.numel()):N0} values)");
    }
    return;
}

if (args.Contains("--loader-only"))
{
    // The data loader's own cost, one worker and no training: the CPU time it takes from the network's threads.
    var alone = new DataLoader(source.Train, 128, train: true, seed: 1, workers: 1);
    for (int epoch = 0; epoch < epochs; epoch++)
    {
        var clock = Stopwatch.StartNew();
        long count = alone.Epoch(epoch).Sum(b => (long)b.Count);
        Console.WriteLine($"epoch {epoch + 1}: loader alone {clock.Elapsed.TotalMilliseconds / count:F4} ms per image");
    }
    return;
}

var loader = new DataLoader(source.Train, 128, train: true, seed: 1, workers: 2);
bool alternatePrebuilt = args.Contains("--alternate-prebuilt");
for (int epoch = 0; epoch < epochs; epoch++)
{
    bool prebuilt = alternatePrebuilt && epoch % 2 == 1;
    IEnumerable<Batch> batches = prebuilt ? loader.Epoch(epoch).ToList() : loader.Epoch(epoch);
    double waiting = 0, forward = 0, backward = 0, step = 0;
    long images = 0;
    var epochClock = Stopwatch.StartNew();
    var waitClock = Stopwatch.StartNew();
    foreach (var batch in batches)
    {
        waiting += waitClock.Elapsed.TotalMilliseconds;
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var loss = nn.functional.cross_entropy(model.forward(batch.InputTensor([3, 32, 32])), tensor(batch.Labels), label_smoothing: 0.1);
        loss.item<float>();
        double forwardEnd = clock.Elapsed.TotalMilliseconds;
        optimizer.zero_grad();
        loss.backward();
        double backwardEnd = clock.Elapsed.TotalMilliseconds;
        optimizer.step();
        forward += forwardEnd;
        backward += backwardEnd - forwardEnd;
        step += clock.Elapsed.TotalMilliseconds - backwardEnd;
        images += batch.Count;
        waitClock.Restart();
    }
    double total = epochClock.Elapsed.TotalMilliseconds;
    Console.WriteLine($"epoch {epoch + 1}{(prebuilt ? " (batches built beforehand)" : "")}: {images * 1000 / total:F0} img/s; ms per image: waiting for data {waiting / images:F3}, " +
        $"forward+loss {forward / images:F3}, backward {backward / images:F3}, optimizer step {step / images:F3}, total {total / images:F3}");
}
