using System.CommandLine;
using ResNet.Training.Data;
using ResNet.Training.Engines;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.Cli;

/// <summary>The <c>evaluate</c> verb: accuracy of saved weights on a dataset, with a per-class report and a confusion matrix.</summary>
internal static class EvaluateCommand
{
    private static readonly Option<string> WeightsOption = new("--weights") { Description = "The .pt weights (with their model.json card beside them).", Required = true };
    private static readonly Option<string> DataOption = new("--data")
    { Description = "fashion-mnist[:PATH] (its test set), or a folder: its test/, else val/, else the folder itself, as class folders.", Required = true };
    private static readonly Option<string?> OutputOption = new("--output") { Description = "Folder for the report (default: beside the weights)." };
    private static readonly Option<int> BatchOption = new("--batch-size") { Description = "Images per forward pass.", DefaultValueFactory = _ => 128 };
    private static readonly Option<int?> ThreadsOption = new("--threads") { Description = "Torch CPU threads (default: all cores)." };
    private static readonly DeviceOptions DeviceOptions = new();

    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("evaluate", "Accuracy (top-1, top-5) and loss of saved weights on a dataset; writes a per-class report (CSV) and a confusion-matrix PNG.");
        foreach (var o in new Option[] { WeightsOption, DataOption, OutputOption, BatchOption, ThreadsOption })
            command.Options.Add(o);
        DeviceOptions.AddTo(command);
        CliAction.Set(command, (parse, token) => Run(parse.GetValue(WeightsOption)!, parse.GetValue(DataOption)!, parse.GetValue(OutputOption),
            parse.GetValue(BatchOption), parse.GetValue(ThreadsOption), DeviceOptions.Choice(parse), DeviceOptions.Gpu(parse), token));
        return command;
    }

    private static int Run(string weights, string dataSpec, string? output, int batchSize, int? threads, DeviceChoice deviceChoice, int gpuId, CancellationToken cancellation)
    {
        if (batchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, not {batchSize}.");
        if (threads is { } t)
        {
            if (t < 1) throw new ArgumentException($"--threads must be at least 1, not {t}.");
            torch.set_num_threads(t);
        }
        var device = TorchDevice.Resolve(deviceChoice, gpuId);
        string folder = output ?? Path.GetDirectoryName(Path.GetFullPath(weights))!;
        OutputGuard.CheckFolder("--output", folder, [dataSpec]);
        var (model, card) = WeightsFile.Load(weights);
        using var _ = model;
        model.to(device);
        using var data = DataSource.ForEvaluation(dataSpec, card.Preprocessing, card.Labels);
        var set = data.Test!;
        var result = Evaluator.Evaluate(model, set, device, batchSize, cancellation: cancellation);
        string prefix = "evaluation-" + string.Concat(data.Name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' ? ch : '-'));
        var (csv, png) = EvaluationReport.Write(result, card.Labels, folder, prefix, $"{data.Name}: {result.Samples} images");
        Console.WriteLine($"evaluated {weights} on {dataSpec}: {result.Samples} images, {card.Labels.Length} classes");
        if (data.Skipped.Count > 0) Console.WriteLine($"data: {data.Skipped.Summary()}");
        Console.WriteLine(EvaluationReport.Table(result, card.Labels));
        Console.WriteLine(FormattableString.Invariant($"loss: {result.Loss:F4}"));
        if (result.Top5 is { } top5) Console.WriteLine(FormattableString.Invariant($"top-5 accuracy: {top5:F4}"));
        Console.WriteLine(FormattableString.Invariant($"accuracy: {result.Top1:F4}"));
        Console.WriteLine($"report: {csv}");
        Console.WriteLine($"confusion matrix: {png}");
        return 0;
    }
}
