namespace ResNet.Training.Training;

/// <summary>Loss and accuracy of a model on a dataset.</summary>
/// <param name="Loss">Mean cross-entropy (no label smoothing).</param>
/// <param name="Top1">Fraction of samples whose highest logit is the true class.</param>
/// <param name="Top5">Fraction whose true class is among the five highest logits; null with fewer than ten classes.</param>
/// <param name="Samples">Samples evaluated (unreadable files excluded).</param>
/// <param name="Confusion">The confusion matrix.</param>
public sealed record EvaluationResult(double Loss, double Top1, double? Top5, int Samples, ConfusionMatrix Confusion);
