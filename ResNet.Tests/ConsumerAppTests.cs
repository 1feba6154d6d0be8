using System.Globalization;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Native;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.Tests;

/// <summary>
/// samples/ConsumerApp as a user gets it: the libraries packed with a unique prerelease version (the global packages
/// folder can then never serve a stale copy), the sample copied to a clean folder outside this repository's
/// Directory.Build.*, restored from the local folder feed, published and run on real CIFAR-10 images; its features
/// equal the command line's, its output carries the Debian 12 fix, and without TorchSharp's or ONNX Runtime's native package it says
/// which package to add.
/// </summary>
public class ConsumerAppTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public void The_packed_libraries_work_in_a_users_app_built_from_a_clean_folder()
    {
        string root = scratch.New();
        string version = $"0.1.0-test.{Guid.NewGuid():N}"[..26];
        try
        {
            // The test binaries were built with the libraries: pack those builds (same code, this run's version).
            string feed = Path.Combine(root, "artifacts", "packages");
            foreach (string library in new[] { "ResNet.Training", "ResNet.MLNet" })
                Processes.Run("dotnet", $"pack \"{Path.Combine(TestPaths.RepoRoot, library)}\" -c {Configuration} --no-build -p:Version={version} -o \"{feed}\" -nologo", root);
            string app = Path.Combine(root, "samples", "ConsumerApp");
            CopySample(Path.Combine(TestPaths.RepoRoot, "samples", "ConsumerApp"), app);
            var (train, test) = CifarFolders(Path.Combine(root, "data"));
            string weights = SaveWeights(Path.Combine(root, "model", "cifar2.pt"));

            string publish = Path.Combine(root, "publish");
            Processes.Run("dotnet", $"build -c Release -p:ResNetPackageVersion={version} -nologo", app, TimeSpan.FromMinutes(4));
            Processes.Run("dotnet", $"publish -c Release --no-build -p:ResNetPackageVersion={version} -o \"{publish}\" -nologo", app);
            foreach (string output in new[] { Path.Combine(app, "bin", "Release", "net10.0"), publish })
                AssertWeakened(output, root);

            string results = Path.Combine(root, "results");
            string run = Processes.Run("dotnet", $"\"{Path.Combine(publish, "ConsumerApp.dll")}\" \"{train}\" \"{test}\" \"{weights}\" \"{results}\"", root);
            Assert.Contains("LbfgsMaximumEntropy on ResNet18 features: test accuracy", run);
            Assert.Contains("ResNet18 classifier: test accuracy", run);
            Assert.Contains("reloaded it: 8 rows", run);

            string cliCsv = Path.Combine(root, "cli-features.csv");
            var cli = CliRunner.Run("featurize", "--weights", weights, "--images", train, "--output", cliCsv, "--device", "cpu");
            Assert.True(cli.ExitCode == 0, cli.Error);
            var expected = TestCsv.Read(cliCsv).Skip(1).ToDictionary(r => r[0], r => r.Skip(1).Select(TestCsv.Float).ToArray());
            var actual = TestCsv.Read(Path.Combine(results, "features.csv")).Skip(1).ToList();
            Assert.Equal(20, actual.Count);
            foreach (var row in actual)
            {
                float[] features = row.Skip(1).Select(TestCsv.Float).ToArray();
                float largest = features.Zip(expected[row[0]], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(largest <= 1e-4f, $"{row[0]}: features differ from the command line's by {largest}");
            }

            // The same app without a native backend: one clear message naming the package to add.
            string RunWithout(string nativeLibrary)
            {
                string copy = Path.Combine(root, "without-" + nativeLibrary.Replace("*", ""));
                CopySample(publish, copy);
                foreach (string native in Directory.GetFiles(copy, nativeLibrary, SearchOption.AllDirectories))
                    File.Delete(native);
                return Processes.RunExpectingFailure("dotnet", $"\"{Path.Combine(copy, "ConsumerApp.dll")}\" \"{train}\" \"{test}\" \"{weights}\" \"{results}\"", root);
            }
            Assert.Contains("TorchSharp's native library could not be loaded: add a package reference to TorchSharp-cpu (or TorchSharp-cuda-linux / TorchSharp-cuda-windows",
                RunWithout("libLibTorchSharp.so"));
            Assert.Contains("ONNX Runtime's native library could not be loaded: add a package reference to Microsoft.ML.OnnxRuntime (or Microsoft.ML.OnnxRuntime.Gpu",
                RunWithout("libonnxruntime*.so*"));
        }
        finally
        {
            string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string id in new[] { "resnet.training", "resnet.mlnet" })
                if (Directory.Exists(Path.Combine(packages, id, version)))
                    Directory.Delete(Path.Combine(packages, id, version), recursive: true);
        }
    }


    /// <summary>Copies a folder without its build output.</summary>
    private static void CopySample(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("bin" + Path.DirectorySeparatorChar) || relative.StartsWith("obj" + Path.DirectorySeparatorChar)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
        }
    }

    /// <summary>train/{cat,ship} with 10 CIFAR-10 training images each, test/{cat,ship} with 4 test images each.</summary>
    private static (string Train, string Test) CifarFolders(string root)
    {
        foreach (var (split, count) in new[] { ("train", 10), ("test", 4) })
            foreach (string cls in new[] { "cat", "ship" })
            {
                string folder = Path.Combine(root, split, cls);
                Directory.CreateDirectory(folder);
                foreach (string file in Directory.GetFiles(Path.Combine(TestPaths.Cifar10, split, cls)).Order(StringComparer.Ordinal).Take(count))
                    File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            }
        return (Path.Combine(root, "train"), Path.Combine(root, "test"));
    }

    /// <summary>A two-class CIFAR-sized network saved with its card (class names and 32² preprocessing).</summary>
    private static string SaveWeights(string path)
    {
        torch.random.manual_seed(3);
        using var model = ResNetModel.ResNet18(2, StemKind.Small);
        WeightsFile.Save(model, new ModelCard
        {
            ClassNames = ["cat", "ship"],
            Preprocessing = new Preprocessing { Resize = 32, Crop = 32, Mean = [0.49f, 0.48f, 0.45f], Std = [0.25f, 0.24f, 0.26f] },
        }, path);
        return path;
    }

    /// <summary>The app's copy of TorchSharp's native library already has GLIBCXX_3.4.32 weak (tried on a scratch copy).</summary>
    private static void AssertWeakened(string output, string scratch)
    {
        string library = Directory.GetFiles(output, GlibcxxWeakening.LibraryName, SearchOption.AllDirectories).Single();
        string copy = Path.Combine(scratch, "weak-check.so");
        File.Copy(library, copy, overwrite: true);
        Assert.False(GlibcxxWeakening.MarkWeak(copy, GlibcxxWeakening.Version), $"{library} was not patched by the package's targets");
    }
}
