using System.CommandLine;
using System.Globalization;
using ResNet.Training.Imaging;
using ResNet.Training.Weights;

namespace ResNet.Cli;

/// <summary><c>--resize</c>, <c>--crop</c>, <c>--mean</c>, <c>--std</c>: overrides of the model card's preprocessing.</summary>
internal sealed class PreprocessingOptions
{
    public Option<int?> Resize { get; } = new("--resize")
    {
        Description = "Resize the shorter side to N (the longer one is centre-cropped to N too). Default: the model card's (256 for ImageNet). At most 4096.",
        HelpName = "N",
    };

    public Option<int?> Crop { get; } = new("--crop")
    {
        Description = "Centre crop N×N fed to the network. Default: the model card's (224 for ImageNet). At most 4096.",
        HelpName = "N",
    };

    public Option<string?> Mean { get; } = new("--mean")
    {
        Description = "Per-channel mean on the 0–1 scale, R,G,B. Default: the model card's (ImageNet: 0.485,0.456,0.406).",
        HelpName = "R,G,B",
    };

    public Option<string?> Std { get; } = new("--std")
    {
        Description = "Per-channel standard deviation on the 0–1 scale, R,G,B. Default: the model card's (ImageNet: 0.229,0.224,0.225).",
        HelpName = "R,G,B",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Resize);
        command.Options.Add(Crop);
        command.Options.Add(Mean);
        command.Options.Add(Std);
    }

    /// <summary>The card with the given overrides applied and checked.</summary>
    public ModelCard Apply(ParseResult parse, ModelCard card)
    {
        foreach (var option in new[] { Resize, Crop })
            if (parse.GetValue(option) is { } side && (side < 1 || side > Preprocessing.MaxSide))
                throw new ArgumentException($"{option.Name} {side}: must be between 1 and {Preprocessing.MaxSide} pixels.");
        var p = card.Preprocessing;
        int crop = parse.GetValue(Crop) ?? p.Crop;
        // A smaller crop alone keeps the card's resize; a larger one grows the resize with it.
        int resize = parse.GetValue(Resize) ?? Math.Max(p.Resize, crop);
        p = p with
        {
            Crop = crop,
            Resize = resize,
            Mean = Triple(parse.GetValue(Mean), "--mean") ?? p.Mean,
            Std = Triple(parse.GetValue(Std), "--std") ?? p.Std,
        };
        try
        {
            return card with { Preprocessing = p.Validated() };
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Preprocessing options: {e.Message}", e);
        }
    }

    private static float[]? Triple(string? text, string option)
    {
        if (text is null) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[parts.Length];
        if (parts.Length != 3 || parts.Select((s, i) => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])).Any(ok => !ok))
            throw new ArgumentException($"{option} takes three numbers R,G,B such as 0.5,0.5,0.5, not '{text}'.");
        return values;
    }
}
