using ResNet.Training.Data;
using ResNet.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>Evaluates a model on a dataset with the evaluation transform: loss, top-1/top-5 accuracy and the confusion matrix.</summary>
public static class Evaluator
{
    /// <summary>Runs <paramref name="model"/> (in eval mode) over <paramref name="dataset"/>.</summary>
    public static EvaluationResult Evaluate(ResNetModel model, IDataset dataset, Device device, int batchSize = 256, int workers = 2,
        CancellationToken cancellation = default)
    {
        int classes = dataset.ClassNames.Count;
        var confusion = new ConfusionMatrix(classes);
        double lossSum = 0;
        long top1 = 0, top5 = 0, n = 0;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var loader = new DataLoader(dataset, batchSize, train: false, workers: workers);
            foreach (var batch in loader.Epoch(0, cancellation: cancellation, reuseInputs: true))
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = batch.InputTensor(dataset.SampleShape).to(device);
                var y = tensor(batch.Labels).to(device);
                var logits = cat(ResNetModel.InferenceChunks(x).Select(model.forward).ToList(), 0);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                int k = Math.Min(5, classes);
                var topk = logits.topk(k, dim: 1).indexes.cpu().data<long>().ToArray();
                for (int i = 0; i < batch.Count; i++)
                {
                    long actual = batch.Labels[i];
                    int predicted = (int)topk[i * k];
                    confusion.Add((int)actual, predicted);
                    if (predicted == actual) top1++;
                    for (int j = 0; j < k; j++) if (topk[i * k + j] == actual) { top5++; break; }
                }
                n += batch.Count;
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        if (n == 0) throw new InvalidDataException($"No readable samples to evaluate ({dataset.Skipped.Summary()}).");
        return new EvaluationResult(lossSum / n, (double)top1 / n, classes >= 10 ? (double)top5 / n : null, (int)n, confusion);
    }
}
