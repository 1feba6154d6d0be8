using System.CommandLine;

namespace ResNet.Cli;

/// <summary><c>featurize</c>: the 512-d penultimate features of each image, as CSV (path, f0..f511).</summary>
internal static class FeaturizeCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("featurize", "Write each image's penultimate features (the pooled 512 values before the classifier) to a CSV file: path,f0,...,f511.");
        var engineOptions = new EngineOptions();
        var images = new ImageInputOptions();
        var preprocessing = new PreprocessingOptions();
        var output = new Option<string>("--output") { Description = "CSV file to write (replaced atomically when the run succeeds).", Required = true, HelpName = "features.csv" };
        engineOptions.AddTo(command);
        images.AddTo(command);
        command.Options.Add(output);
        preprocessing.AddTo(command);

        CliAction.Set(command, (parse, cancel) =>
        {
            var files = images.Files(parse);
            int batchSize = images.Batch(parse);
            OutputGuard.CheckFile("--output", parse.GetValue(output)!, engineOptions.InputFiles(parse).Concat(files));
            using var engine = engineOptions.Open(parse, card => preprocessing.Apply(parse, card), cancel);
            Console.Error.WriteLine($"featurize: {files.Count} images with {engine.Description}, {Describe(engine.Card.Preprocessing)}");
            using var csv = new CsvFile(parse.GetValue(output)!);
            int dim = engine.Card.Architecture.FeatureDim;
            csv.WriteRow(Enumerable.Range(0, dim).Select(i => $"f{i}").Prepend("path"));
            BatchInference.Run(engine, files, batchSize, images.Policy(parse), Console.Error, "featurize",
                (path, result, row) => csv.WriteRow([path], result.FeaturesOf(row)), cancel, images.PixelLimit(parse));
            csv.Commit();
            return 0;
        });
        return command;
    }

    /// <summary>One line saying how images are prepared, so runs are reproducible from their logs.</summary>
    internal static string Describe(ResNet.Training.Imaging.Preprocessing p) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"resize {p.Resize}, crop {p.Crop}, mean {string.Join(",", p.Mean)}, std {string.Join(",", p.Std)}");
}
