using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;

namespace ResNet.Training.Training;

/// <summary>PNG charts of a run: loss and accuracy per epoch, and a confusion-matrix heat map.</summary>
public static class Plots
{
    /// <summary>Writes <c>loss.png</c> and <c>accuracy.png</c> into <paramref name="runDirectory"/>; returns their paths.</summary>
    public static string[] WriteCurves(string runDirectory, IReadOnlyList<EpochMetrics> history)
    {
        var loss = Chart("Loss", "loss");
        loss.Series.Add(Line("train (label-smoothed)", history.Select(m => (m.Epoch, (double?)m.TrainLoss)), OxyColors.SteelBlue));
        loss.Series.Add(Line("validation", history.Select(m => (m.Epoch, m.ValLoss)), OxyColors.OrangeRed));
        var accuracy = Chart("Accuracy", "accuracy");
        accuracy.Series.Add(Line("train", history.Select(m => (m.Epoch, (double?)m.TrainAccuracy)), OxyColors.SteelBlue));
        accuracy.Series.Add(Line("validation top-1", history.Select(m => (m.Epoch, m.ValTop1)), OxyColors.OrangeRed));
        if (history.Any(m => m.ValTop5 is not null))
            accuracy.Series.Add(Line("validation top-5", history.Select(m => (m.Epoch, m.ValTop5)), OxyColors.SeaGreen));
        string lossPath = Path.Combine(runDirectory, "loss.png"), accPath = Path.Combine(runDirectory, "accuracy.png");
        Export(loss, lossPath, 800, 500);
        Export(accuracy, accPath, 800, 500);
        return [lossPath, accPath];
    }

    /// <summary>Writes a confusion-matrix heat map (rows: true class, columns: predicted; cells: counts).</summary>
    public static void WriteConfusion(string path, ConfusionMatrix confusion, IReadOnlyList<string> classNames, string title)
    {
        int n = confusion.Classes;
        var model = new PlotModel { Title = title, Background = OxyColors.White };
        // Row-normalised colours, so a small class reads as well as a large one; the cell labels show counts.
        var data = new double[n, n];
        for (int a = 0; a < n; a++)
        {
            double support = Math.Max(1, confusion.Support(a));
            // HeatMapSeries indexes data[x, y]: x = predicted class, y = true class (drawn top-down by the reversed axis).
            for (int p = 0; p < n; p++) data[p, a] = confusion.Counts[a, p] / support;
        }
        var labels = classNames.Select(s => s.Length > 14 ? s[..13] + "…" : s).ToArray();
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Bottom, Title = "predicted", ItemsSource = labels, Angle = -40, GapWidth = 0 });
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, Title = "true", ItemsSource = labels, StartPosition = 1, EndPosition = 0, GapWidth = 0 });
        model.Axes.Add(new LinearColorAxis { Position = AxisPosition.Right, Palette = OxyPalette.Interpolate(200, OxyColors.White, OxyColor.FromRgb(33, 113, 181), OxyColor.FromRgb(8, 48, 107)), Minimum = 0, Maximum = 1, Title = "row fraction" });
        model.Series.Add(new HeatMapSeries
        {
            X0 = 0, X1 = n - 1, Y0 = 0, Y1 = n - 1, Data = data,
            RenderMethod = HeatMapRenderMethod.Rectangles,
            LabelFormatString = "0.00", LabelFontSize = n <= 12 ? 0.2 : 0,
            CoordinateDefinition = HeatMapCoordinateDefinition.Center,
        });
        int side = Math.Clamp(120 + 60 * n, 500, 1600);
        Export(model, path, side + 120, side);
    }

    private static PlotModel Chart(string title, string yTitle)
    {
        var model = new PlotModel { Title = title, Background = OxyColors.White };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.RightTop, LegendPlacement = LegendPlacement.Inside });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "epoch", MajorGridlineStyle = LineStyle.Dot, MinimumMajorStep = 1, MinorTickSize = 0 });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, MajorGridlineStyle = LineStyle.Dot });
        return model;
    }

    private static LineSeries Line(string title, IEnumerable<(int Epoch, double? Value)> points, OxyColor color)
    {
        var series = new LineSeries { Title = title, Color = color, MarkerType = MarkerType.Circle, MarkerSize = 3, MarkerFill = color };
        foreach (var (epoch, value) in points)
            if (value is { } v) series.Points.Add(new DataPoint(epoch, v));
        return series;
    }

    private static void Export(PlotModel model, string path, int width, int height)
    {
        // Text shaping would need HarfBuzz's native library, which is not shipped for Linux; plain text rendering suffices here.
        AtomicFile.Write(path, stream => new PngExporter { Width = width, Height = height, UseTextShaping = false }.Export(model, stream));
    }
}
