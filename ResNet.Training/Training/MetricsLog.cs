using System.Globalization;
using System.Text.Json;

namespace ResNet.Training.Training;

/// <summary>Writes the per-epoch metrics of a run as <c>metrics.csv</c> and <c>metrics.json</c> (rewritten whole after each epoch).</summary>
public static class MetricsLog
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Writes both files into <paramref name="runDirectory"/>.</summary>
    public static void Write(string runDirectory, IReadOnlyList<EpochMetrics> history)
    {
        var csv = new System.Text.StringBuilder("epoch,lr,train_loss,train_acc,val_loss,val_top1,val_top5,images_per_sec,seconds\n");
        foreach (var m in history)
            csv.AppendLine(string.Join(",", m.Epoch.ToString(CultureInfo.InvariantCulture), F(m.LearningRate), F(m.TrainLoss),
                F(m.TrainAccuracy), F(m.ValLoss), F(m.ValTop1), F(m.ValTop5), F(m.ImagesPerSecond), F(m.Seconds)));
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "metrics.csv"), csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(runDirectory, "metrics.json"), JsonSerializer.Serialize(history, Json));
    }

    private static string F(double? v) => v is { } x ? x.ToString("G6", CultureInfo.InvariantCulture) : "";
}
