using System.Diagnostics;
using ResNet.Training.Model;
using static TorchSharp.torch;

/// <summary>
/// <c>--ops</c>: ResNet18's kernels outside oneDNN at 32² with batch 128 and the 7×7 stem, forward and backward, each timed
/// alone on channels-last tensors (as the model runs them on the CPU) and summed over the network's layers, in ms per
/// training step; the max-pool also on NCHW tensors. benchmarks/training/ops_torch.py times the same shapes, in the
/// same way, in PyTorch (NCHW).
/// </summary>
internal static class NonConvolutionOps
{
    private const int N = 128;
    // (channels, side, how many in the network): BatchNorms, ReLUs and residual adds of ResNet18 at 32².
    private static readonly (int C, int S, int Count)[] BatchNorms = [(64, 16, 1), (64, 8, 4), (128, 4, 5), (256, 2, 5), (512, 1, 5)];
    private static readonly (int C, int S, int Count)[] Relus = [(64, 16, 1), (64, 8, 4), (128, 4, 4), (256, 2, 4), (512, 1, 4)];
    private static readonly (int C, int S, int Count)[] Adds = [(64, 8, 2), (128, 4, 2), (256, 2, 2), (512, 1, 2)];

    public static void Run(int rounds)
    {
        // What every model constructor does first (malloc's thresholds included), as the training step has it.
        ResNet.Training.Native.NativeBackends.EnsureTorchSharp();
        for (int round = 0; round < rounds; round++)
        {
            // relu and add run on a fresh non-leaf (x * 1), as in the network: the copy's own time is taken out.
            var copy = Relus.Concat(Adds).Select(t => (t.C, t.S)).Distinct().ToDictionary(k => k, k => Time(CopyOnly(k.C, k.S)));
            double batchNorm = BatchNorms.Sum(t => t.Count * Time(BatchNorm(t.C, t.S)));
            double relu = Relus.Sum(t => t.Count * (Time(Relu(t.C, t.S)) - copy[(t.C, t.S)]));
            double add = Adds.Sum(t => t.Count * (Time(Add(t.C, t.S)) - copy[(t.C, t.S)]));
            double nchwMaxPool = Time(MaxPool(channelsLast: false));
            double maxPool = Time(MaxPool(channelsLast: true));
            Console.WriteLine($"round {round + 1} (ms per step, forward + backward): batchnorm {batchNorm:F1}, relu {relu:F1}, " +
                $"add {add:F1}, maxpool {maxPool:F1} (over NCHW tensors {nchwMaxPool:F1}), total {batchNorm + relu + add + maxPool:F1}");
        }
    }

    private static Tensor Input(int c, int s, bool grad = true, bool channelsLast = true)
    {
        var x = randn([N, c, s, s]);
        return (channelsLast ? ResNetModel.ChannelsLastOnCpu(x) : x).requires_grad_(grad);
    }

    private static Action BatchNorm(int c, int s)
    {
        var (x, g) = (Input(c, s), Input(c, s, false));
        var (w, b) = (ones(c, requires_grad: true), zeros(c, requires_grad: true));
        var (mean, variance) = (zeros(c), ones(c));
        return () => nn.functional.batch_norm(x, mean, variance, w, b, training: true).backward([g]);
    }

    private static Action Relu(int c, int s)
    {
        var (x, g) = (Input(c, s), Input(c, s, false));
        return () => nn.functional.relu(x * 1, inplace: true).backward([g]);
    }

    private static Action Add(int c, int s)
    {
        var (x, y, g) = (Input(c, s), Input(c, s), Input(c, s, false));
        return () => (x * 1).add_(y).backward([g]);
    }

    /// <summary>The stem's 3×3, stride-2 max-pool over channels-last or NCHW tensors.</summary>
    private static Action MaxPool(bool channelsLast)
    {
        var (x, g) = (Input(64, 16, channelsLast: channelsLast), Input(64, 8, grad: false, channelsLast: channelsLast));
        return () => nn.functional.max_pool2d(x, 3, 2, 1).backward([g]);
    }

    private static Action CopyOnly(int c, int s)
    {
        var (x, g) = (Input(c, s), Input(c, s, false));
        return () => (x * 1).backward([g]);
    }

    /// <summary>ms per call of <paramref name="run"/> (each call in its own dispose scope), after one untimed call.</summary>
    private static double Time(Action run, int reps = 20)
    {
        void Once() { using var scope = NewDisposeScope(); run(); }
        Once();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) Once();
        return clock.Elapsed.TotalMilliseconds / reps;
    }
}
