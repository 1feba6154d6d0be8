using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;
using SkiaSharp;

namespace ResNet.Training.Training;

/// <summary>An image file and the caption drawn under it in <see cref="Plots.ImageGrid"/>; lines split at '\n'.</summary>
/// <param name="Path">A PNG, JPEG or BMP file.</param>
/// <param name="Caption">The text under the image.</param>
/// <param name="Highlight">Draws the caption in red (e.g. a wrong prediction) instead of black.</param>
public sealed record CaptionedImage(string Path, string Caption, bool Highlight = false);

/// <summary>PNG charts of a run (loss and accuracy per epoch, a confusion-matrix heat map) and of images (a captioned grid).</summary>
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
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, ConfusionPng(confusion, classNames, title));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The confusion-matrix heat map of <see cref="WriteConfusion"/> as PNG bytes (for a notebook's <c>DisplayAs("image/png")</c>).</summary>
    public static byte[] ConfusionPng(ConfusionMatrix confusion, IReadOnlyList<string> classNames, string title)
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
        return Png(model, side + 120, side);
    }

    /// <summary>Renders <paramref name="model"/> as PNG bytes.</summary>
    public static byte[] Png(PlotModel model, int width, int height)
    {
        using var stream = new MemoryStream();
        // Text shaping would need HarfBuzz's native library, which is not shipped for Linux; plain text rendering suffices here.
        new PngExporter { Width = width, Height = height, UseTextShaping = false }.Export(model, stream);
        return stream.ToArray();
    }

    /// <summary>
    /// A grid of images, each scaled to <paramref name="cellSize"/> pixels (nearest neighbour, so small images stay
    /// sharp) with its caption underneath, as PNG bytes.
    /// </summary>
    /// <param name="images">The images and their captions, row by row.</param>
    /// <param name="columns">Images per row.</param>
    /// <param name="cellSize">Side of each drawn image in pixels.</param>
    public static byte[] ImageGrid(IReadOnlyList<CaptionedImage> images, int columns = 6, int cellSize = 96)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cellSize, 16);
        const float fontSize = 13, pad = 6;
        int lines = images.Count == 0 ? 0 : images.Max(i => i.Caption.Split('\n').Length);
        int cellWidth = (int)Math.Max(cellSize + 2 * pad, 150), cellHeight = (int)(cellSize + 2 * pad + lines * (fontSize + 3));
        int rows = (images.Count + columns - 1) / columns;
        using var surface = SKSurface.Create(new SKImageInfo(Math.Max(1, columns * cellWidth), Math.Max(1, rows * cellHeight)));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { IsAntialias = true, TextSize = fontSize, Typeface = SKTypeface.Default };
        using var pixels = new SKPaint { FilterQuality = SKFilterQuality.None };
        for (int i = 0; i < images.Count; i++)
        {
            float x = i % columns * cellWidth, y = i / columns * cellHeight;
            using (var bitmap = SKBitmap.Decode(images[i].Path)
                ?? throw new InvalidDataException($"{images[i].Path}: not a PNG, JPEG or BMP image that SkiaSharp can decode."))
            using (var image = SKImage.FromBitmap(bitmap))
                canvas.DrawImage(image, SKRect.Create(x + (cellWidth - cellSize) / 2f, y + pad, cellSize, cellSize), pixels);
            text.Color = images[i].Highlight ? SKColors.Firebrick : SKColors.Black;
            var captionLines = images[i].Caption.Split('\n');
            for (int l = 0; l < captionLines.Length; l++)
                canvas.DrawText(captionLines[l], x + pad, y + cellSize + 2 * pad + (l + 1) * (fontSize + 3) - 3, text);
        }
        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A white line chart over epochs with a legend inside, the house style of every curve plot.</summary>
    internal static PlotModel Chart(string title, string yTitle)
    {
        var model = new PlotModel { Title = title, Background = OxyColors.White };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.RightTop, LegendPlacement = LegendPlacement.Inside });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "epoch", MajorGridlineStyle = LineStyle.Dot, MinimumMajorStep = 1, MinorTickSize = 0 });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yTitle, MajorGridlineStyle = LineStyle.Dot });
        return model;
    }

    /// <summary>A line with circle markers through the epochs that have a value.</summary>
    internal static LineSeries Line(string title, IEnumerable<(int Epoch, double? Value)> points, OxyColor color)
    {
        var series = new LineSeries { Title = title, Color = color, MarkerType = MarkerType.Circle, MarkerSize = 3, MarkerFill = color };
        foreach (var (epoch, value) in points)
            if (value is { } v) series.Points.Add(new DataPoint(epoch, v));
        return series;
    }

    private static void Export(PlotModel model, string path, int width, int height)
    {
        AtomicFile.Write(path, stream => stream.Write(Png(model, width, height)));
    }
}
