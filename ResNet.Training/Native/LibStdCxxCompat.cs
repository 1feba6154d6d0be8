using System.Runtime.CompilerServices;
using TorchSharp;

namespace ResNet.Training.Native;

/// <summary>
/// The load-time half of the Debian 12 fix (GlibcxxWeakening.cs): before anything in this library can make TorchSharp
/// load its native library, patches the copies it will load when the running system's libstdc++ lacks
/// GLIBCXX_3.4.32. This covers output that never went through the package's buildTransitive targets, such as an app
/// with a ProjectReference to this library from outside the repository.
/// </summary>
internal static class LibStdCxxCompat
{
    /// <summary>Runs when this assembly is first used, so no entry point can reach TorchSharp before it.</summary>
#pragma warning disable CA2255 // A library module initializer on purpose: it must run before any of our code touches torch.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void PatchTorchSharpBeforeItLoads() => PatchCopies();

    /// <summary>Patches the copies TorchSharp may load, where this system needs it; the number of files changed.</summary>
    internal static int PatchCopies()
    {
        int patched = 0;
        if (!OperatingSystem.IsLinux()) return patched;
        try
        {
            if (RunningLibStdCxxHas(GlibcxxWeakening.Version)) return patched;
            foreach (string library in TorchSharpNativeCopies())
            {
                try
                {
                    if (GlibcxxWeakening.MarkWeak(library, GlibcxxWeakening.Version)) patched++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A read-only app folder: TorchSharp's load error (NativeBackends) then says what went wrong.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc or the app folder unreadable: nothing to patch, and TorchSharp reports its own load error.
        }
        return patched;
    }

    /// <summary>
    /// Where TorchSharp looks for libLibTorchSharp.so: beside the app and TorchSharp.dll, their runtimes/*/native
    /// folders, and the cpu/ and cuda*/ folders TorchSharp copies the natives into when the app lacks them.
    /// </summary>
    internal static IEnumerable<string> TorchSharpNativeCopies()
    {
        var roots = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(torch).Assembly.Location) }
            .Where(d => !string.IsNullOrEmpty(d)).Select(d => Path.GetFullPath(d!)).Distinct();
        foreach (string root in roots.Where(Directory.Exists))
        {
            var folders = new List<string> { root };
            string runtimes = Path.Combine(root, "runtimes");
            if (Directory.Exists(runtimes))
                folders.AddRange(Directory.EnumerateDirectories(runtimes).Select(r => Path.Combine(r, "native")));
            folders.AddRange(Directory.EnumerateDirectories(root, "cpu"));
            folders.AddRange(Directory.EnumerateDirectories(root, "cuda*"));
            foreach (string folder in folders)
            {
                string library = Path.Combine(folder, GlibcxxWeakening.LibraryName);
                if (File.Exists(library)) yield return library;
            }
        }
    }

    /// <summary>
    /// Whether the libstdc++ this process uses (the runtime loads it, so /proc/self/maps names it) defines
    /// <paramref name="version"/>; where it cannot be found, the usual system folders are asked.
    /// </summary>
    internal static bool RunningLibStdCxxHas(string version)
    {
        string? library = File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/') is var at and >= 0 ? line[at..] : null)
            .FirstOrDefault(path => path is not null && Path.GetFileName(path).StartsWith("libstdc++.so", StringComparison.Ordinal))
            ?? new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib" }
                .Select(dir => Path.Combine(dir, "libstdc++.so.6")).FirstOrDefault(File.Exists);
        if (library is null || !File.Exists(library))
            return true; // no libstdc++ to be seen: not a system this fix is meant for
        byte[] name = System.Text.Encoding.ASCII.GetBytes(version + "\0");
        return File.ReadAllBytes(library).AsSpan().IndexOf(name) >= 0;
    }
}
