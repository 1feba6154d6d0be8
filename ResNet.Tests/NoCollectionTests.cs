using System.Runtime;
using ResNet.Training.Training;

namespace ResNet.Tests;

/// <summary>
/// The optimiser step runs with no garbage collection inside it (TorchSharp's temporary scalars must outlive their
/// native calls; see NoCollection's remarks).
/// </summary>
[Collection(Name)]
public sealed class NoCollectionTests
{
    /// <summary>A no-GC region is process-wide, so these tests run while no other test trains (or allocates) at the same time.</summary>
    public const string Name = "No collection (runs alone)";

    [CollectionDefinition(Name, DisableParallelization = true)]
    public sealed class Alone;

    [Fact]
    public void Allocations_inside_the_region_trigger_no_collection_and_the_region_ends_afterwards()
    {
        int before = -1, after = -1;
        GCLatencyMode inside = GCLatencyMode.Batch;
        NoCollection.Run(() =>
        {
            inside = GCSettings.LatencyMode;
            before = GC.CollectionCount(0);
            // About 8 MB in small objects, like the Tensor and Scalar wrappers of many optimiser steps.
            var keep = new List<object>();
            for (int i = 0; i < 100_000; i++) keep.Add(new byte[64]);
            after = GC.CollectionCount(0);
            GC.KeepAlive(keep);
        });
        Assert.Equal(GCLatencyMode.NoGCRegion, inside);
        Assert.Equal(before, after);
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }

    [Fact]
    public void An_exception_inside_ends_the_region_and_propagates()
    {
        Assert.Throws<InvalidDataException>(() => NoCollection.Run(() => throw new InvalidDataException("step failed")));
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }
}
