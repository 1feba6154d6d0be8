using System.Runtime.InteropServices;

namespace ResNet.Training.Native;

/// <summary>
/// Keeps glibc's malloc from handing libtorch's freed tensor memory back to the kernel after every free (Linux only;
/// applied once, when TorchSharp's native library loads).
/// </summary>
/// <remarks>
/// libtorch allocates its CPU tensors with malloc. glibc serves blocks above its <i>mmap threshold</i> (128 KiB at
/// start) with fresh <c>mmap</c>s, and trims its heap above the <i>trim threshold</i> (twice the mmap threshold); each
/// time that memory is touched again the kernel faults in and zeroes new pages. glibc raises both thresholds itself
/// when a process frees a large mmapped block, up to 32 MiB. Our reading (not measured inside PyTorch's process): in
/// Python that happens early, since NumPy's and the data's buffers go through malloc, while a .NET process keeps its
/// large buffers in the managed heap, so the thresholds stay low and every step pays page faults for its temporaries.
/// Measured on a 2-core AMD EPYC (<c>benchmarks/training/StepProfile</c>, ResNet18 at 32², batch 128): the SGD step
/// took 25-70 ms, PyTorch's 8-10 ms, and training ran at 480 img/s; with glibc's dynamic maximum (32 MiB) and twice it,
/// 9-20 ms and 636 img/s. The cost: up to 64 MiB of freed memory stays mapped at the top of each malloc heap instead of
/// returning to the system. A user who tunes malloc (any <c>MALLOC_*_</c> variable or <c>GLIBC_TUNABLES</c> naming
/// malloc) keeps their own settings.
/// </remarks>
internal static class GlibcMallocTuning
{
    /// <summary>glibc's <c>mallopt</c> parameters (malloc.h).</summary>
    private const int TrimThreshold = -1, MmapThreshold = -3;
    /// <summary>glibc's largest mmap threshold on 64-bit systems (its dynamic rule stops there too), and twice it.</summary>
    private const int MmapThresholdBytes = 32 << 20, TrimThresholdBytes = 64 << 20;

    private static int applied;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>Whether <see cref="Apply"/> changed malloc's settings in this process.</summary>
    public static bool Applied { get; private set; }

    /// <summary>Sets both thresholds once per process, unless the user configured malloc or this is not glibc Linux.</summary>
    public static void Apply()
    {
        if (Interlocked.Exchange(ref applied, 1) == 1 || !OperatingSystem.IsLinux() || UserTunesMalloc(Environment.GetEnvironmentVariables())) return;
        try
        {
            // mallopt returns 1 on success; the mmap threshold first, as glibc checks the trim threshold against it.
            Applied = Mallopt(MmapThreshold, MmapThresholdBytes) == 1 && Mallopt(TrimThreshold, TrimThresholdBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): nothing to tune.
        }
    }

    /// <summary>
    /// Hands the free memory inside malloc's heaps back to the system (glibc's <c>malloc_trim</c>), where
    /// <see cref="Apply"/> raised the thresholds; for the end of a phase whose temporaries the next phase does not reuse.
    /// </summary>
    /// <remarks>
    /// Between training steps the heap keeps the freed activations for the next step; what it keeps is free memory
    /// scattered through the heap, which the trim threshold (it trims only the top) never returns. Measured on a 2-core
    /// AMD EPYC (<c>resnet train</c> on imagenette-small at 224², batch 32): 185 MiB in use and 820–1,190 MiB free
    /// after each step. Validation needs little of it, and its own allocations came on top: with a trim between the
    /// two, validation's peak RSS was 886–1,079 MiB against 1,599–1,747 without (three alternated pairs), now well
    /// below the steps' peak, which it had exceeded in two of the three runs without.
    /// </remarks>
    public static void ReleaseFreeMemory()
    {
        if (Applied) MallocTrim(0);
    }

    /// <summary>Whether <paramref name="environment"/> configures glibc's malloc (then its settings win).</summary>
    internal static bool UserTunesMalloc(System.Collections.IDictionary environment) =>
        environment.Keys.Cast<string>().Any(k => k.StartsWith("MALLOC_", StringComparison.Ordinal))
        || (environment["GLIBC_TUNABLES"] as string ?? "").Contains("glibc.malloc", StringComparison.Ordinal);
}
