using System.Text.Json;
using System.Text.Json.Serialization;
using ResNet.Training.Imaging;
using ResNet.Training.Model;

namespace ResNet.Training.Weights;

/// <summary>
/// What a weights file needs beside its tensors to be used correctly: the architecture, the class names and the
/// preprocessing. Stored as JSON next to the PyTorch state dict (<c>model.pt</c> → <c>model.json</c>), so the
/// <c>.pt</c> file stays a plain <c>torch.save(state_dict)</c> that PyTorch loads as it is.
/// </summary>
public sealed record ModelCard
{
    /// <summary>The network's shape.</summary>
    public ResNetConfig Architecture { get; init; } = ResNetConfig.ResNet18();
    /// <summary>One name per output class, in logit order.</summary>
    public string[] ClassNames { get; init; } = [];
    /// <summary>How images become input tensors.</summary>
    public Preprocessing Preprocessing { get; init; } = Preprocessing.ImageNet;
    /// <summary>SHA-256 of the weights file this card describes, when known.</summary>
    public string? WeightsSha256 { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Default class names "0".."K-1" for weights that come without names.</summary>
    public static string[] NumberedClasses(int count) => Enumerable.Range(0, count).Select(i => i.ToString()).ToArray();

    /// <summary>Path of the card that belongs to a weights file.</summary>
    public static string PathFor(string weightsPath) => Path.ChangeExtension(weightsPath, ".json");

    /// <summary>Serialises the card.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a card; <paramref name="source"/> names it in errors.</summary>
    public static ModelCard FromJson(string json, string source = "model card")
    {
        try
        {
            var card = JsonSerializer.Deserialize<ModelCard>(json, Json) ?? throw new JsonException("empty document");
            card.Architecture.Validate();
            card.Preprocessing.Validated();
            if (card.ClassNames.Length != 0 && card.ClassNames.Length != card.Architecture.NumClasses)
                throw new InvalidDataException($"{card.ClassNames.Length} class names for {card.Architecture.NumClasses} classes.");
            return card;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"{source}: not a valid model card ({e.Message}).", e);
        }
    }

    /// <summary>Class names, numbered when the card has none.</summary>
    [JsonIgnore] public string[] Labels => ClassNames.Length > 0 ? ClassNames : NumberedClasses(Architecture.NumClasses);
}
