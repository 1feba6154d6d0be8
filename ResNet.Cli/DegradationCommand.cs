using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ResNet.Training.Data;
using ResNet.Training.Engines;
using ResNet.Training.Experiments;
using ResNet.Training.Training;
using TorchSharp;

namespace ResNet.Cli;

/// <summary>
/// The <c>degradation</c> verb: trains plain and residual CIFAR networks of several depths on the same data and budget
/// (<see cref="DegradationExperiment"/>) and writes their error curves as CSV, a PNG in the paper's Fig. 6 layout and a
/// Markdown summary with the command, the CPU and the wall time.
/// </summary>
internal static class DegradationCommand
{
    private static readonly Option<string> DataOption = new("--data")
    { Description = "A folder of class folders with train/ and test/ (e.g. CIFAR-10).", Required = true };
    private static readonly Option<string> DepthsOption = new("--depths")
    { Description = "Comma-separated depths 6n+2 (8, 14, 20, 32, 44, 56, …); each is trained plain and residual.", DefaultValueFactory = _ => "20,56" };
    private static readonly Option<int> EpochsOption = new("--epochs") { Description = "Epochs per network.", DefaultValueFactory = _ => 12 };
    private static readonly Option<int?> TrainImagesOption = new("--train-images") { Description = "Train on a class-balanced subset of this many images (default: all)." };
    private static readonly Option<int> ImageSizeOption = new("--image-size")
    { Description = "Network input side; images are resized to it (16 trains about 4× faster than CIFAR's 32, so more steps fit a budget).", DefaultValueFactory = _ => 32 };
    private static readonly Option<bool> ZeroInitOption = new("--zero-init-residual")
    { Description = "Start the residual networks' blocks as the identity (γ = 0 in each block's last BatchNorm; Goyal et al. 2017). Plain networks cannot start this way and keep the default." };
    private static readonly Option<int> BatchOption = new("--batch-size") { Description = "Images per step.", DefaultValueFactory = _ => 128 };
    private static readonly Option<double> LrOption = new("--lr") { Description = "Peak learning rate (cosine schedule, SGD momentum 0.9, weight decay 1e-4).", DefaultValueFactory = _ => 0.1 };
    private static readonly Option<int> SeedOption = new("--seed") { Description = "Seed of initialisation, subset, order and augmentation.", DefaultValueFactory = _ => 1 };
    private static readonly Option<int?> ThreadsOption = new("--threads") { Description = "Torch CPU threads (default: all cores)." };
    private static readonly Option<string?> OutputOption = new("--output") { Description = "Folder for degradation.csv/.png/.md (default runs/degradation-TIMESTAMP)." };
    private static readonly DeviceOptions DeviceOptions = new();

    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("degradation",
            "The degradation experiment (He et al. 2016, Fig. 6): plain vs residual CIFAR networks of several depths, same data and budget; writes training/test error per epoch (CSV), a plot and a summary.");
        foreach (var o in new Option[] { DataOption, DepthsOption, EpochsOption, TrainImagesOption, ImageSizeOption, ZeroInitOption, BatchOption, LrOption, SeedOption, ThreadsOption, OutputOption })
            command.Options.Add(o);
        DeviceOptions.AddTo(command);
        CliAction.Set(command, (parse, token) => Run(parse, token));
        return command;
    }

    private static int Run(ParseResult parse, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string data = parse.GetValue(DataOption)!;
        int[] depths = ParseDepths(parse.GetValue(DepthsOption)!);
        if (parse.GetValue(ThreadsOption) is { } t)
        {
            if (t < 1) throw new ArgumentException($"--threads must be at least 1, not {t}.");
            torch.set_num_threads(t);
        }
        var options = new DegradationOptions { Depths = depths, TrainImages = parse.GetValue(TrainImagesOption), ZeroInitResidual = parse.GetValue(ZeroInitOption) };
        options = options with
        {
            Training = (options.Training with
            {
                Epochs = parse.GetValue(EpochsOption), BatchSize = parse.GetValue(BatchOption), LearningRate = parse.GetValue(LrOption), Seed = parse.GetValue(SeedOption),
            }).Validated(),
        };
        string output = Path.GetFullPath(parse.GetValue(OutputOption) ?? Path.Combine("runs", $"degradation-{DateTime.Now:yyyyMMdd-HHmmss}"));
        OutputGuard.CheckFolder("--output", output, [data]);
        var device = TorchDevice.Resolve(DeviceOptions.Choice(parse), DeviceOptions.Gpu(parse));

        int size = parse.GetValue(ImageSizeOption);
        if (size is < 8 or > 256) throw new ArgumentException($"--image-size must be between 8 and 256, not {size}.");
        using var source = DataSource.ForTraining(data, size, validationFraction: 0, options.Training.Seed);
        var test = source.Test ?? throw new DirectoryNotFoundException($"{data} has no test/ folder: the experiment reports test error beside training error.");
        Console.WriteLine($"degradation: depths {string.Join(", ", depths)}, plain and residual; {options.Training.Epochs} epochs each on {options.TrainImages ?? source.Train.Count} of {source.Train.Count} training images, {test.Count} test images, at {size}×{size}{(options.ZeroInitResidual ? "; residual blocks start as the identity" : "")}; device {device}, {torch.get_num_threads()} threads");
        var points = DegradationExperiment.Run(source.Train, test, options, device, Console.WriteLine, cancellation);
        if (cancellation.IsCancellationRequested)
        {
            Console.WriteLine("interrupted: nothing written (the curves would be incomplete).");
            return CliAction.Cancelled;
        }

        Directory.CreateDirectory(output);
        string csv = Path.Combine(output, "degradation.csv"), png = Path.Combine(output, "degradation.png"), md = Path.Combine(output, "degradation.md");
        DegradationExperiment.WriteCsv(csv, points);
        var verdict = DegradationExperiment.Verdict(points);
        string command = "resnet " + string.Join(' ', parse.Tokens.Select(t => t.Value.Contains(' ') ? $"'{t.Value}'" : t.Value));
        string cpu = CpuName();
        string wall = FormattableString.Invariant($"{clock.Elapsed.TotalMinutes:F1} min");
        File.WriteAllBytes(png, DegradationExperiment.Plot(points,
            $"{options.Training.Epochs} epochs on {options.TrainImages ?? source.Train.Count} training images, {test.Count} test images, {size}×{size} pixels  ·  {cpu}, {torch.get_num_threads()} threads  ·  {wall} in all"));
        string[] summary =
        [
            "# Degradation experiment", "",
            $"Command: `{command}`  ", $"Machine: {cpu}, {torch.get_num_threads()} threads; wall time {wall}.", "",
            .. verdict.Select(v => "- " + v), "", "![curves](degradation.png)", "",
        ];
        File.WriteAllText(md, string.Join('\n', summary));
        foreach (var line in verdict) Console.WriteLine(line);
        Console.WriteLine($"wall time {wall}; curves: {csv}; plot: {png}; summary: {md}");
        return 0;
    }

    private static int[] ParseDepths(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var depths = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 8 || (d - 2) % 6 != 0)
                throw new ArgumentException($"--depths: \"{p}\" is not a CIFAR depth 6n+2 (8, 14, 20, 32, 44, 56, …).");
            depths.Add(d);
        }
        if (depths.Distinct().Count() < 2) throw new ArgumentException("--depths needs at least two different depths to compare.");
        return [.. depths.Distinct().Order()];
    }

    /// <summary>The CPU's model name, for the record of where the numbers came from.</summary>
    private static string CpuName() =>
        ResNet.Training.Native.CpuInfo.Field("model name") ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
}
