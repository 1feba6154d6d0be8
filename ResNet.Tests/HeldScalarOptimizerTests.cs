using ResNet.Training.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ResNet.Tests;

/// <summary>
/// Our SGD and AdamW steps hold their scalars (TorchSharp's temporary ones can be freed by a garbage collection
/// mid-call); they must otherwise be TorchSharp's optimisers: the same updates and the same state. SGD's one-pass CPU
/// update (FusedSgdKernel) repeats libtorch's float32 arithmetic, so its weights must equal TorchSharp's to the last bit.
/// Exact resume through checkpoints is
/// <c>TrainingTests.Interrupted_and_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one</c>.
/// </summary>
public class HeldScalarOptimizerTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Updates_equal_TorchSharps_SGD_with_momentum_and_weight_decay(bool nesterov)
    {
        manual_seed(5);
        AssertSameUpdates(
            p => new HeldScalarSgd(p, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: nesterov),
            p => optim.SGD(p, 0.05, momentum: 0.9, weight_decay: 5e-4, nesterov: nesterov),
            steps: 4);
    }

    [Fact]
    public void AdamW_updates_equal_TorchSharps_AdamW_as_the_trainer_created_it()
    {
        manual_seed(6);
        AssertSameUpdates(
            p => new HeldScalarAdamW(p, lr: 0.01, weightDecay: 0.05),
            // The trainer's call before HeldScalarAdamW (its betas and ε are TorchSharp's defaults of that factory).
            p => optim.AdamW(p, 0.01, weight_decay: 0.05),
            steps: 5);
    }

    /// <summary>
    /// Trains two copies of one small layer for <paramref name="steps"/> steps on the same batches, one with each
    /// optimiser, and asserts equal weights afterwards (and that the steps moved them).
    /// </summary>
    private static void AssertSameUpdates(Func<IEnumerable<Parameter>, OptimizerHelper> held,
        Func<IEnumerable<Parameter>, OptimizerHelper> stock, int steps)
    {
        // 37×29 weights and 29 biases: whole vectors and a remainder, in our kernel and in libtorch's.
        using var ours = nn.Linear(37, 29);
        using var theirs = nn.Linear(37, 29);
        theirs.load_state_dict(ours.state_dict());
        using var initial = ours.weight!.detach().clone();
        using var heldOptimizer = held(ours.parameters());
        using var stockOptimizer = stock(theirs.parameters());
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn(8, 37);
            var y = randn(8, 29);
            foreach (var (model, optimizer) in new (nn.Module<Tensor, Tensor>, OptimizerHelper)[] { (ours, heldOptimizer), (theirs, stockOptimizer) })
            {
                optimizer.zero_grad();
                nn.functional.mse_loss(model.call(x), y).backward();
                optimizer.step();
            }
            // The learning rate changes between steps, as the schedules change it.
            foreach (var group in heldOptimizer.ParamGroups.Concat(stockOptimizer.ParamGroups)) group.LearningRate *= 0.8;
        }
        var expected = theirs.parameters().ToArray();
        var actual = ours.parameters().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(actual[i].allclose(expected[i], rtol: 0, atol: 0), $"parameter {i}: largest difference {(actual[i] - expected[i]).abs().max().item<float>()}");
        Assert.True((ours.weight! - initial).abs().max().item<float>() > 1e-3, "the steps must move the weights, or the comparison says nothing");
    }
}
