using System.Text.Json;
using System.Text.Json.Serialization;
using ResNet.Training.Model;
using ResNet.Training.Training;

namespace ResNet.Cli;

/// <summary>The <c>train</c> verb's arguments; saved as <c>run.json</c> in the run folder so <c>--resume</c> repeats them.</summary>
internal sealed record TrainArguments
{
    public required string Data { get; init; }
    public TrainingOptions Options { get; init; } = new();
    public StemKind Stem { get; init; } = StemKind.ImageNet;
    public int? ImageSize { get; init; }
    public string? Weights { get; init; }
    public string? CacheDirectory { get; init; }
    /// <summary>Freeze the stem and stages 1..k (4: the whole backbone) and train the rest on their cached activations; null trains everything.</summary>
    public int? FreezeThrough { get; init; }
    public double ValidationFraction { get; init; } = 0.1;
    public string? Output { get; init; }
    [JsonIgnore] public bool Resume { get; init; }
    [JsonIgnore] public int? Threads { get; init; }
    [JsonIgnore] public string Device { get; init; } = "auto";
    [JsonIgnore] public int GpuId { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainArguments FromJson(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainArguments>(File.ReadAllText(path), Json) ?? throw new JsonException("empty document");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid run description ({e.Message}).", e);
        }
    }
}
