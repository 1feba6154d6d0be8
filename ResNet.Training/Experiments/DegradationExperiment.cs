using System.Globalization;
using OxyPlot;
using ResNet.Training.Data;
using ResNet.Training.Model;
using ResNet.Training.Training;
using SkiaSharp;
using TorchSharp;

namespace ResNet.Training.Experiments;

/// <summary>The settings of a <see cref="DegradationExperiment"/>: which depths, on how much data, with which recipe.</summary>
public sealed record DegradationOptions
{
    /// <summary>Depths of the paper's CIFAR networks (6n+2: 8, 14, 20, 26, 32, 44, 56, …); each is trained plain and residual.</summary>
    public int[] Depths { get; init; } = [20, 56];

    /// <summary>Training images used (a seeded, class-balanced subset), or all of them when null.</summary>
    public int? TrainImages { get; init; }

    /// <summary>
    /// Start every residual network's blocks with γ = 0 in their last BatchNorm, so each block begins as the identity
    /// (<see cref="ResNetConfig.ZeroInitResidual"/>, Goyal et al. 2017; the paper did not). Only a network with
    /// shortcuts can start this way — a plain network would start with its signal cut — so it applies to the residual
    /// networks only, and the plain-vs-plain and residual-vs-residual comparisons each keep one recipe.
    /// </summary>
    public bool ZeroInitResidual { get; init; }

    /// <summary>
    /// The recipe shared by every network: the paper's SGD (momentum 0.9, no Nesterov, weight decay 1e-4, batch 128, no
    /// label smoothing) with a cosine schedule compressed into <see cref="TrainingOptions.Epochs"/> instead of its 64k-step
    /// step schedule.
    /// </summary>
    public TrainingOptions Training { get; init; } = new()
    {
        Epochs = 12, BatchSize = 128, LearningRate = 0.1, Optimizer = OptimizerKind.Sgd, Momentum = 0.9, Nesterov = false,
        WeightDecay = 1e-4, Schedule = ScheduleKind.Cosine, WarmupEpochs = 0, LabelSmoothing = 0, Seed = 1, Workers = 2,
    };
}

/// <summary>One network's errors after one epoch of a <see cref="DegradationExperiment"/>.</summary>
/// <param name="Depth">Weighted layers, as the paper counts them.</param>
/// <param name="Residual">True for the ResNet (option-A shortcuts), false for the plain network of the same layers.</param>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainError">1 − accuracy on the epoch's training batches (augmented, in training mode), as the paper's thin curves.</param>
/// <param name="TestError">1 − top-1 accuracy on the test images after the epoch.</param>
/// <param name="Seconds">Wall time of the network's training and testing so far.</param>
public sealed record DegradationPoint(int Depth, bool Residual, int Epoch, double TrainError, double TestError, double Seconds)
{
    /// <summary>"plain-20" or "ResNet-56", the paper's names.</summary>
    public string Network => $"{(Residual ? "ResNet" : "plain")}-{Depth}";
}

/// <summary>
/// The degradation problem of He et al. (2016), Fig. 1 and Fig. 6, at CPU scale: CIFAR-style networks of several depths
/// are trained plain and with shortcuts on the same data, recipe and budget, recording training and test error per
/// epoch. The paper's finding is that the deeper <em>plain</em> network ends with higher <em>training</em> error (an
/// optimisation difficulty, not overfitting), while the deeper residual network does not.
/// </summary>
public static class DegradationExperiment
{
    /// <summary>The CSV header of <see cref="WriteCsv"/>.</summary>
    public const string CsvHeader = "network,depth,residual,epoch,train_error,test_error,seconds";

    /// <summary>
    /// Trains plain and residual networks of each of <paramref name="options"/>' depths on <paramref name="train"/>, testing
    /// on <paramref name="test"/> after every epoch; returns every network's curve, shallowest plain network first.
    /// </summary>
    /// <param name="train">Training images at the networks' input size (32² for CIFAR-10), with augmentation.</param>
    /// <param name="test">Test images.</param>
    /// <param name="options">Depths, data budget and recipe.</param>
    /// <param name="device">Where to train.</param>
    /// <param name="log">Receives a line at the start of each network and after each of its epochs.</param>
    /// <param name="cancellation">Stops after the current step; the curves so far are returned.</param>
    public static IReadOnlyList<DegradationPoint> Run(IDataset train, IDataset test, DegradationOptions options, torch.Device? device = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        if (options.Depths.Length == 0) throw new ArgumentException("The experiment needs at least one depth.");
        if (options.TrainImages is { } n && (n < 2 || n > train.Count))
            throw new ArgumentException($"TrainImages must be between 2 and the {train.Count} training images, not {n}.");
        var subset = options.TrainImages is { } count ? BalancedSubset(train, count, options.Training.Seed) : train;
        var points = new List<DegradationPoint>();
        foreach (int depth in options.Depths.Order())
            foreach (bool residual in new[] { false, true })
            {
                if (cancellation.IsCancellationRequested) return points;
                var residualConfig = ResNetConfig.Cifar(depth, train.ClassNames.Count);
                var config = residual ? residualConfig with { ZeroInitResidual = options.ZeroInitResidual } : residualConfig.AsPlain();
                torch.manual_seed(options.Training.Seed);
                using var model = new ResNetModel(config);
                string name = new DegradationPoint(depth, residual, 0, 0, 0, 0).Network;
                double seconds = 0;
                log?.Invoke($"{name}: {model.parameters().Sum(p => p.numel()):N0} parameters, {options.Training.Epochs} epochs on {subset.Count} images");
                var trainer = new Trainer(options.Training, device)
                {
                    Progress = p =>
                    {
                        if (p is not { Phase: ProgressPhase.EpochEnd, Metrics: { } m }) return;
                        seconds += m.Seconds;
                        var point = new DegradationPoint(depth, residual, m.Epoch, 1 - m.TrainAccuracy, 1 - (m.ValTop1 ?? double.NaN), seconds);
                        points.Add(point);
                        log?.Invoke(FormattableString.Invariant(
                            $"{name} epoch {m.Epoch}/{options.Training.Epochs}: train error {point.TrainError:F3}, test error {point.TestError:F3} ({point.Seconds:F0} s)"));
                    },
                };
                trainer.Fit(model, subset, test, cancellation: cancellation);
            }
        return points;
    }

    /// <summary>Writes the curves as CSV (<see cref="CsvHeader"/>), atomically.</summary>
    public static void WriteCsv(string path, IEnumerable<DegradationPoint> points)
    {
        var lines = points.Select(p => string.Join(',', p.Network, p.Depth.ToString(CultureInfo.InvariantCulture), p.Residual ? "true" : "false",
            p.Epoch.ToString(CultureInfo.InvariantCulture), F(p.TrainError), F(p.TestError), p.Seconds.ToString("F1", CultureInfo.InvariantCulture)));
        AtomicFile.WriteAllText(path, CsvHeader + "\n" + string.Join("\n", lines) + "\n");
        static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
    }

    /// <summary>Reads curves written by <see cref="WriteCsv"/>; a malformed line is an error naming the file and line.</summary>
    public static IReadOnlyList<DegradationPoint> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != CsvHeader)
            throw new InvalidDataException($"{path}: not a degradation CSV (its first line must be \"{CsvHeader}\").");
        var points = new List<DegradationPoint>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            try
            {
                points.Add(new DegradationPoint(int.Parse(f[1], CultureInfo.InvariantCulture), bool.Parse(f[2]), int.Parse(f[3], CultureInfo.InvariantCulture),
                    double.Parse(f[4], CultureInfo.InvariantCulture), double.Parse(f[5], CultureInfo.InvariantCulture), double.Parse(f[6], CultureInfo.InvariantCulture)));
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
            {
                throw new InvalidDataException($"{path}, line {i + 1}: expected {CsvHeader.Split(',').Length} fields as \"{CsvHeader}\", got \"{lines[i]}\".", e);
            }
        }
        return points;
    }

    /// <summary>
    /// The paper's Fig. 6 layout as PNG bytes: plain networks on the left, residual ones on the right; thin dashed
    /// lines are training error, bold lines test error; one colour per depth.
    /// </summary>
    public static byte[] Plot(IReadOnlyList<DegradationPoint> points, string? caption = null)
    {
        const int panelWidth = 640, panelHeight = 460;
        double top = Math.Min(1, points.Count == 0 ? 1 : points.Max(p => Math.Max(p.TrainError, p.TestError)) + 0.05);
        var depths = points.Select(p => p.Depth).Distinct().Order().ToArray();
        var panels = new[] { false, true }.Select(residual =>
        {
            var chart = Plots.Chart(residual ? "ResNet (shortcuts)" : "plain (no shortcuts)", "error");
            chart.Axes[1].Minimum = 0;
            // Errors start high and fall, and the y axis starts at 0: the bottom left is the one empty corner.
            chart.Legends[0].LegendPosition = OxyPlot.Legends.LegendPosition.LeftBottom;
            chart.Axes[1].Maximum = top;
            for (int d = 0; d < depths.Length; d++)
            {
                var curve = points.Where(p => p.Residual == residual && p.Depth == depths[d]).OrderBy(p => p.Epoch).ToArray();
                if (curve.Length == 0) continue;
                var color = Palette[d % Palette.Length];
                string name = curve[0].Network;
                var trainLine = Plots.Line($"{name} train", curve.Select(p => (p.Epoch, (double?)p.TrainError)), color);
                trainLine.LineStyle = LineStyle.Dash;
                trainLine.StrokeThickness = 1.5;
                trainLine.MarkerType = MarkerType.None;
                var testLine = Plots.Line($"{name} test", curve.Select(p => (p.Epoch, (double?)p.TestError)), color);
                testLine.StrokeThickness = 3;
                chart.Series.Add(trainLine);
                chart.Series.Add(testLine);
            }
            return Plots.Png(chart, panelWidth, panelHeight);
        }).ToArray();

        int captionHeight = caption is null ? 0 : 28;
        using var surface = SKSurface.Create(new SKImageInfo(2 * panelWidth, panelHeight + captionHeight));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        for (int i = 0; i < panels.Length; i++)
        {
            using var bitmap = SKBitmap.Decode(panels[i]);
            canvas.DrawBitmap(bitmap, i * panelWidth, 0);
        }
        if (caption is not null)
        {
            using var paint = new SKPaint { Color = SKColors.DimGray, IsAntialias = true };
            using var font = new SKFont { Size = 15 };
            canvas.DrawText(caption, 12, panelHeight + 19, font, paint);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// What the final epoch shows, one line per comparison of the shallowest and the deepest network of each kind, e.g.
    /// "plain: the 56-layer net ends with higher training error than the 20-layer one (0.412 vs 0.301): degradation".
    /// </summary>
    public static IReadOnlyList<string> Verdict(IReadOnlyList<DegradationPoint> points)
    {
        var lines = new List<string>();
        foreach (bool residual in new[] { false, true })
        {
            var finals = points.Where(p => p.Residual == residual).GroupBy(p => p.Depth).Select(g => g.MaxBy(p => p.Epoch)!).OrderBy(p => p.Depth).ToArray();
            if (finals.Length < 2) continue;
            var (shallow, deep) = (finals[0], finals[^1]);
            bool worse = deep.TrainError > shallow.TrainError;
            string kind = residual ? "ResNet" : "plain", direction = worse ? "higher" : "lower", label = worse ? "degradation" : "no degradation";
            lines.Add(FormattableString.Invariant(
                $"{kind}: the {deep.Depth}-layer net ends with {direction} training error than the {shallow.Depth}-layer one ({deep.TrainError:F3} vs {shallow.TrainError:F3}; test {deep.TestError:F3} vs {shallow.TestError:F3}): {label}"));
        }
        return lines;
    }

    private static readonly OxyColor[] Palette = [OxyColors.SteelBlue, OxyColors.OrangeRed, OxyColors.SeaGreen, OxyColors.MediumPurple, OxyColors.Goldenrod];

    /// <summary>A seeded subset with (nearly) the same number of images of every class.</summary>
    private static IDataset BalancedSubset(IDataset data, int count, int seed)
    {
        var rng = new Random(seed);
        var byClass = Enumerable.Range(0, data.Count).GroupBy(data.LabelOf).Select(g => g.OrderBy(_ => rng.Next()).ToArray()).ToArray();
        var picked = Enumerable.Range(0, byClass.Max(g => g.Length)).SelectMany(i => byClass.Where(g => i < g.Length).Select(g => g[i])).Take(count).Order().ToArray();
        return new SubsetDataset(data, picked);
    }
}
