// TorchSharp's side of benchmarks/gpu: ResNet18 (our model, torchvision's layout) at 3×224², fp32, on synthetic data.
//   GpuBench [--device cuda|cpu] [--batch-size 128] [--steps 30] [--warmup 5]
// Prints "RESULT torchsharp_train_<device> <img/s> img/s" (SGD steps: forward, loss, backward, optimiser) and
// "RESULT torchsharp_infer_<device> <img/s> img/s" (eval mode, no_grad). Each timed loop ends with a synchronising
// read of a result, so queued GPU work is inside the time.
using System.Diagnostics;
using ResNet.Training.Model;
using ResNet.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

string Option(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
string deviceName = Option("--device", "cuda");
int batch = int.Parse(Option("--batch-size", "128")), steps = int.Parse(Option("--steps", "30")), warmup = int.Parse(Option("--warmup", "5"));
if (deviceName == "cuda" && !cuda.is_available())
{
    Console.WriteLine("RESULT-UNAVAILABLE torchsharp cuda: TorchSharp sees no CUDA device (is LD_LIBRARY_PATH set to PyTorch's lib folder?)");
    return 1;
}
var device = new Device(deviceName);
manual_seed(1);
using var model = ResNetModel.ResNet18(1000);
model.to(device);
using var x = randn(batch, 3, 224, 224, device: device);
using var y = randint(0, 1000, batch, dtype: ScalarType.Int64, device: device);
Console.WriteLine($"device {deviceName}, batch {batch}, {steps} timed steps after {warmup}");

model.train();
using (var optimizer = new HeldScalarSgd(model.parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true))
{
    double Train(int n)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            if (i == n - 1) loss.item<float>(); // synchronises
        }
        return clock.Elapsed.TotalSeconds;
    }
    Train(warmup);
    Console.WriteLine($"RESULT torchsharp_train_{deviceName} {steps * batch / Train(steps):F1} img/s");
}

model.eval();
using (no_grad())
{
    double Infer(int n)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            using var scope = NewDisposeScope();
            var logits = model.call(x);
            if (i == n - 1) logits.sum().item<float>();
        }
        return clock.Elapsed.TotalSeconds;
    }
    Infer(warmup);
    Console.WriteLine($"RESULT torchsharp_infer_{deviceName} {steps * batch / Infer(steps):F1} img/s");
}
return 0;
