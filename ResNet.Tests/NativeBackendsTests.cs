using ResNet.Training.Native;

namespace ResNet.Tests;

/// <summary>
/// The errors an app sees when it references no native backend (the end-to-end case, a published app without
/// libLibTorchSharp.so and libonnxruntime.so, is in ConsumerAppTests), and the Debian 12 libstdc++ fix.
/// </summary>
public class NativeBackendsTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    [Theory]
    [InlineData(typeof(DllNotFoundException))]
    [InlineData(typeof(NotSupportedException))]
    [InlineData(typeof(EntryPointNotFoundException))]
    public void Native_load_failures_are_recognised_also_inside_a_type_initializer(Type kind)
    {
        var cause = (Exception)Activator.CreateInstance(kind, "Unable to load shared library 'onnxruntime'")!;
        Assert.True(NativeBackends.IsNativeLoadFailure(cause));
        Assert.True(NativeBackends.IsNativeLoadFailure(new TypeInitializationException("Microsoft.ML.OnnxRuntime.NativeMethods", cause)));
        Assert.False(NativeBackends.IsNativeLoadFailure(new InvalidDataException("bad file")));
    }

    [Fact]
    public void The_error_names_the_package_to_add_and_keeps_the_loaders_words()
    {
        var cause = new TypeInitializationException("Microsoft.ML.OnnxRuntime.NativeMethods",
            new DllNotFoundException("Unable to load shared library 'onnxruntime'"));
        var e = NativeBackends.Missing("ONNX Runtime", NativeBackends.OnnxRuntimeAdvice, cause);
        Assert.StartsWith("ONNX Runtime's native library could not be loaded: add a package reference to Microsoft.ML.OnnxRuntime (or Microsoft.ML.OnnxRuntime.Gpu", e.Message);
        Assert.Contains("Unable to load shared library 'onnxruntime'", e.Message);
        Assert.Same(cause, e.InnerException);
        Assert.Contains("TorchSharp-cpu (or TorchSharp-cuda-linux / TorchSharp-cuda-windows for NVIDIA GPUs)", NativeBackends.TorchSharpAdvice);
    }

    [Fact]
    public void Both_backends_load_in_an_app_that_references_them()
    {
        NativeBackends.EnsureTorchSharp();
        NativeBackends.EnsureOnnxRuntime();
    }

    [Fact]
    public void Loading_TorchSharp_raises_mallocs_thresholds_unless_the_user_tuned_malloc()
    {
        NativeBackends.EnsureTorchSharp();
        bool userTuned = GlibcMallocTuning.UserTunesMalloc(Environment.GetEnvironmentVariables());
        Assert.Equal(OperatingSystem.IsLinux() && !userTuned, GlibcMallocTuning.Applied);
        Assert.True(GlibcMallocTuning.UserTunesMalloc(new Dictionary<string, string> { ["MALLOC_ARENA_MAX"] = "2" }));
        Assert.True(GlibcMallocTuning.UserTunesMalloc(new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.malloc.trim_threshold=0" }));
        Assert.False(GlibcMallocTuning.UserTunesMalloc(new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.rtld.nns=2", ["PATH"] = "/usr/bin" }));
    }

    [Fact]
    public void The_copies_TorchSharp_loads_in_the_test_output_are_weak_on_GLIBCXX_3_4_32()
    {
        var copies = LibStdCxxCompat.TorchSharpNativeCopies().ToList();
        Assert.NotEmpty(copies);
        foreach (string copy in copies)
            Assert.False(GlibcxxWeakening.MarkWeak(copy, GlibcxxWeakening.Version), $"{copy} was not patched by the build");
    }

    [Fact]
    public void Marking_weak_replaces_the_file_once_and_leaves_hard_links_to_the_original_alone()
    {
        // TorchSharp's own copy in the NuGet cache, as the package ships it (never edited by the fix).
        string packaged = Directory.GetFiles(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
            ".nuget", "packages", "torchsharp"), GlibcxxWeakening.LibraryName, SearchOption.AllDirectories).First();
        string dir = scratch.New();
        string copy = Path.Combine(dir, GlibcxxWeakening.LibraryName), link = Path.Combine(dir, "link.so");
        File.Copy(packaged, copy);
        Processes.Run("ln", $"\"{copy}\" \"{link}\"", dir);
        byte[] before = File.ReadAllBytes(copy);

        Assert.True(GlibcxxWeakening.MarkWeak(copy, GlibcxxWeakening.Version));
        Assert.False(GlibcxxWeakening.MarkWeak(copy, GlibcxxWeakening.Version)); // already weak: untouched
        Assert.False(GlibcxxWeakening.MarkWeak(copy, "GLIBCXX_9.9.99")); // a version it does not ask for

        byte[] after = File.ReadAllBytes(copy);
        Assert.Equal(before.Length, after.Length);
        Assert.Single(Enumerable.Range(0, before.Length), i => before[i] != after[i]); // the VER_FLG_WEAK bit
        Assert.Equal(before, File.ReadAllBytes(link)); // a new file replaced the name: the old inode is intact
        Assert.Equal([GlibcxxWeakening.LibraryName, "link.so"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
    }
}
