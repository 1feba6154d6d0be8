using System.Text.Json;
using System.Text.Json.Serialization;

namespace ResNet.Training.Training;

/// <summary>
/// Where a run stands (<c>trainer.json</c> in a checkpoint): the options, the position (epoch, batch, optimiser step
/// — the schedule's whole state), the running sums of the unfinished epoch, the torch RNG state, the best accuracy
/// so far and the metric history. With the weights and optimiser state beside it, a resumed run continues bit for bit.
/// </summary>
public sealed record TrainerState
{
    /// <summary>The run's options.</summary>
    public TrainingOptions Options { get; init; } = new();
    /// <summary>0-based epoch in progress (equal to the number of finished epochs).</summary>
    public int Epoch { get; init; }
    /// <summary>Batches of <see cref="Epoch"/> already trained on.</summary>
    public int BatchInEpoch { get; init; }
    /// <summary>Optimiser steps taken so far; the learning-rate schedule is a function of it.</summary>
    public long GlobalStep { get; init; }
    /// <summary>Sum of per-sample training loss in the unfinished epoch.</summary>
    public double EpochLossSum { get; init; }
    /// <summary>Correct training predictions in the unfinished epoch.</summary>
    public long EpochCorrect { get; init; }
    /// <summary>Training samples seen in the unfinished epoch.</summary>
    public long EpochSeen { get; init; }
    /// <summary>Best validation top-1 so far (training accuracy when there is no validation set).</summary>
    public double? BestAccuracy { get; init; }
    /// <summary>1-based epoch of <see cref="BestAccuracy"/>.</summary>
    public int? BestEpoch { get; init; }
    /// <summary>torch's CPU generator state (base64).</summary>
    public string? TorchRngState { get; init; }
    /// <summary>Metrics of the finished epochs.</summary>
    public List<EpochMetrics> History { get; init; } = [];

    /// <summary>True when every epoch of <see cref="Options"/> is done.</summary>
    [JsonIgnore] public bool Finished => Epoch >= Options.Epochs;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Serialises the state.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a state; <paramref name="source"/> names it in errors.</summary>
    public static TrainerState FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(json, Json) ?? throw new JsonException("empty document");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a valid trainer state ({e.Message}).", e);
        }
    }
}
