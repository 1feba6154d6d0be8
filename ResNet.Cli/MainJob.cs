using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Training;

namespace ResNet.Cli;

/// <summary>
/// What the program does without arguments: trains ResNet18 on the Fashion-MNIST subset shipped with the program
/// (data/fashion-mnist-small: 10,000 training and 2,000 test images), then evaluates it on the test images.
/// About three minutes on two CPU cores; see docs/training.md for the recipe and its measured result.
/// </summary>
internal static class MainJob
{
    /// <summary>The shipped subset, copied next to the program at build time.</summary>
    public static string DataFolder => Path.Combine(AppContext.BaseDirectory, "data", "fashion-mnist-small");

    /// <summary>The recipe of the main job.</summary>
    public static TrainArguments Arguments => new()
    {
        Data = $"{DataSource.FashionMnistPrefix}:{DataFolder}",
        Stem = StemKind.ImageNet,
        ImageSize = 32,
        ValidationFraction = 0.05,
        Options = new TrainingOptions
        {
            Epochs = 12, BatchSize = 128, LearningRate = 0.1, Optimizer = OptimizerKind.Sgd, Nesterov = true, Momentum = 0.9,
            WeightDecay = 5e-4, Schedule = ScheduleKind.OneCycle, LabelSmoothing = 0.1, Seed = 1, Workers = 3,
        },
    };

    /// <summary>Runs the main job.</summary>
    public static int Run(CancellationToken cancellation)
    {
        Console.WriteLine("ResNet18 on the bundled Fashion-MNIST subset (run `resnet --help` for the verbs).");
        return TrainCommand.Run(Arguments, cancellation);
    }
}
