using System.CommandLine;
using ResNet.Training.Imaging;

namespace ResNet.Cli;

/// <summary><c>--images</c>, <c>--batch-size</c> and <c>--on-error</c>: which images a verb reads and how.</summary>
internal sealed class ImageInputOptions
{
    public Option<string[]> Images { get; } = new("--images")
    {
        Description = "Image files and/or folders (searched recursively for .jpg, .jpeg, .png, .bmp in any case). JPEG, PNG and BMP, grayscale or with alpha, are read as RGB.",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
        HelpName = "DIR_OR_FILE",
    };

    public Option<int> BatchSize { get; } = new("--batch-size")
    {
        Description = "Images per forward pass.",
        DefaultValueFactory = _ => 16,
    };

    public Option<string> OnError { get; } = new("--on-error")
    {
        Description = "An unreadable, truncated or corrupt image: skip it (named on stderr, counted at the end) or fail (exit 1 naming it, no output).",
        DefaultValueFactory = _ => "skip",
        HelpName = "skip|fail",
    };

    public Option<long?> MaxPixels { get; } = new("--max-image-pixels")
    {
        Description = $"Refuse (or skip, per --on-error) images of more pixels than this, read from the header before decoding. Default: ${ImageLimits.MaxPixelsVariable}, else {ImageLimits.DefaultMaxPixels:N0} (as Pillow).",
        HelpName = "N",
    };

    public ImageInputOptions() => OnError.AcceptOnlyFromAmong("skip", "fail");

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Images);
        command.Options.Add(BatchSize);
        command.Options.Add(OnError);
        command.Options.Add(MaxPixels);
    }

    /// <summary>The image files named by <c>--images</c>; an error when there are none.</summary>
    public List<string> Files(ParseResult parse)
    {
        var inputs = parse.GetValue(Images) ?? [];
        var files = ImageSources.Find(inputs);
        if (files.Count == 0)
            throw new ArgumentException($"--images: no .jpg, .jpeg, .png or .bmp files in {string.Join(", ", inputs)}.");
        return files;
    }

    /// <summary>The batch size, checked.</summary>
    public int Batch(ParseResult parse) => parse.GetValue(BatchSize) is var b and >= 1
        ? b : throw new ArgumentException($"--batch-size must be at least 1, not {parse.GetValue(BatchSize)}.");

    /// <summary>The pixel limit, checked (null: <see cref="ImageLimits.MaxPixels"/>).</summary>
    public long? PixelLimit(ParseResult parse) => parse.GetValue(MaxPixels) is not { } n || n >= 1
        ? parse.GetValue(MaxPixels) : throw new ArgumentException($"--max-image-pixels must be at least 1, not {n}.");

    /// <summary>The error policy.</summary>
    public OnErrorPolicy Policy(ParseResult parse) => parse.GetValue(OnError) == "fail" ? OnErrorPolicy.Fail : OnErrorPolicy.Skip;
}
