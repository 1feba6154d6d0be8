using System.Runtime;

namespace ResNet.Training.Training;

/// <summary>
/// Runs native-heavy work with no garbage collection in the middle of it, so that nothing it allocates is finalised
/// while a native call still uses it.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns numbers into temporary <see cref="TorchSharp.Scalar"/>s (<c>buf.mul_(momentum).add_(grad,
/// alpha: 1 - dampening)</c> in its SGD, the same in AdamW, <c>add_(Tensor)</c> with alpha 1) and keeps each alive only
/// until its handle is read. A collection during the native call finalises the scalar and libtorch reads freed memory:
/// a degradation run died after about an hour of training with libtorch's "Expected false to be true" from
/// <c>Scalar::toFloat</c> in <c>THSTensor_add_</c> (and <see cref="ResNet.Training.Model.TrackedBatchNorm2d"/> documents an
/// earlier case). The optimiser does this for every parameter on every step, so the step runs in a no-GC region: the
/// collector runs between steps, when every native call of the step has returned. Allocation on other threads (the
/// data loader's batches) can use up the budget; the runtime then collects anyway and the region ends early, which is
/// no worse than running without one.
/// </remarks>
internal static class NoCollection
{
    /// <summary>Bytes the region may allocate (on all threads) before the runtime collects anyway; a step allocates well under 1 MB.</summary>
    private const long Budget = 64L * 1024 * 1024;

    /// <summary>
    /// Runs <paramref name="action"/> in a no-GC region when one can be started without a full blocking collection
    /// (an ephemeral one is cheap; a full one on every step would cost several percent of training time).
    /// </summary>
    public static void Run(Action action)
    {
        bool started = false;
        try
        {
            started = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(Budget, disallowFullBlockingGC: true);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException)
        {
            // Another region is active, or the budget exceeds what this GC configuration allows: run unprotected.
        }
        try
        {
            action();
        }
        finally
        {
            if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }
}
