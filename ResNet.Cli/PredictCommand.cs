using System.CommandLine;
using System.Globalization;
using ResNet.Training.Engines;

namespace ResNet.Cli;

/// <summary><c>predict</c>: each image's predicted class and class probabilities (softmax of the logits), as CSV.</summary>
internal static class PredictCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("predict",
            "Classify images and write a CSV file: path,predicted,probability, then one probability column per class (headed by the class name), " +
            "or with --top K the K likeliest classes as top1,top1_probability,...");
        var engineOptions = new EngineOptions();
        var images = new ImageInputOptions();
        var preprocessing = new PreprocessingOptions();
        var output = new Option<string>("--output") { Description = "CSV file to write (replaced atomically when the run succeeds).", Required = true, HelpName = "predictions.csv" };
        var labels = new Option<string?>("--labels")
        {
            Description = "Class names, one per line in the model's class order (default: the model card's names, else class numbers 0..K-1).",
            HelpName = "labels.txt",
        };
        var top = new Option<int?>("--top") { Description = "Write only the K likeliest classes and their probabilities instead of every class's.", HelpName = "K" };
        engineOptions.AddTo(command);
        images.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(labels);
        command.Options.Add(top);
        preprocessing.AddTo(command);

        CliAction.Set(command, (parse, cancel) =>
        {
            var files = images.Files(parse);
            int batchSize = images.Batch(parse);
            OutputGuard.CheckFile("--output", parse.GetValue(output)!, engineOptions.InputFiles(parse).Concat(files).Append(parse.GetValue(labels)));
            using var engine = engineOptions.Open(parse, card =>
            {
                card = preprocessing.Apply(parse, card);
                return parse.GetValue(labels) is { } path
                    ? card with { ClassNames = LabelsFile.Read(path, card.Architecture.NumClasses) }
                    : card;
            }, cancel);
            var names = engine.Card.Labels;
            int k = parse.GetValue(top) ?? 0;
            if (parse.GetValue(top) is { } t && (t < 1 || t > names.Length))
                throw new ArgumentException($"--top must be between 1 and the number of classes ({names.Length}), not {t}.");
            Console.Error.WriteLine($"predict: {files.Count} images with {engine.Description}, {names.Length} classes, {FeaturizeCommand.Describe(engine.Card.Preprocessing)}");

            using var csv = new CsvFile(parse.GetValue(output)!);
            var header = new List<string> { "path", "predicted", "probability" };
            if (k > 0)
                for (int i = 1; i <= k; i++) header.AddRange([$"top{i}", $"top{i}_probability"]);
            else
                header.AddRange(names);
            csv.WriteRow(header);
            var probabilities = new float[names.Length];
            BatchInference.Run(engine, files, batchSize, images.Policy(parse), Console.Error, "predict", (path, result, row) =>
            {
                Softmax(result.LogitsOf(row), probabilities);
                int best = IndexOfMax(probabilities);
                var fields = new List<string> { path, names[best], Format(probabilities[best]) };
                if (k == 0)
                {
                    csv.WriteRow(fields, probabilities);
                    return;
                }
                foreach (int c in Enumerable.Range(0, names.Length).OrderByDescending(c => probabilities[c]).ThenBy(c => c).Take(k))
                    fields.AddRange([names[c], Format(probabilities[c])]);
                csv.WriteRow(fields);
            }, cancel, images.PixelLimit(parse));
            csv.Commit();
            return 0;
        });
        return command;
    }

    /// <summary>Numerically stable softmax, in double precision.</summary>
    internal static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (float l in logits) max = Math.Max(max, l);
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(Math.Exp(logits[i] - max) / sum);
    }

    private static int IndexOfMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    private static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);
}
