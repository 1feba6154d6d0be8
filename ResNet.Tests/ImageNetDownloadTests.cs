using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Weights;

namespace ResNet.Tests;

/// <summary><see cref="ImageNetWeights"/> against a local HTTP server serving a small state dict named like torchvision's files.</summary>
public class ImageNetDownloadTests : IDisposable
{
    private readonly ScratchFolders scratch = new();

    public void Dispose() => scratch.Dispose();

    /// <summary>A tiny ResNet state dict and the torchvision-style name that carries its hash prefix.</summary>
    private (byte[] Bytes, string Name) Fixture()
    {
        string path = Path.Combine(scratch.New(), "tiny.pt");
        using (var model = new ResNetModel(ResNetConfig.ResNet18(5, StemKind.Small) with { BlocksPerStage = [1, 1, 1, 1], Widths = [4, 8, 8, 8] }))
            WeightsFile.Save(model, new ModelCard(), path);
        return (File.ReadAllBytes(path), $"tiny-{WeightsFile.Sha256(path)[..8]}.pth");
    }

    private static ImageNetWeightsOptions Options(int port, string cache, string name, StringWriter log) => new()
    {
        BaseUrl = $"http://127.0.0.1:{port}/models",
        CacheDirectory = cache,
        FileName = name,
        Progress = log,
    };

    [Fact]
    public void Downloads_verifies_and_then_reuses_the_cache_without_the_server()
    {
        var (bytes, name) = Fixture();
        string cache = scratch.New();
        var log = new StringWriter();
        string path;
        using (var server = new LocalHttpServer(new() { [$"/models/{name}"] = bytes }))
        {
            path = ImageNetWeights.GetOrDownload(Options(server.Port, cache, name, log));
            Assert.Equal(1, server.Requests);
        }
        Assert.Equal(Path.Combine(cache, name), path);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(cache));
        Assert.Contains("(100%)", log.ToString());
        Assert.Contains("verified", log.ToString());

        // Server gone: the cached copy is verified again and used.
        var again = new StringWriter();
        var (model, card) = ImageNetWeights.Load(Options(LocalHttpServer.FreePort(), cache, name, again));
        model.Dispose();
        Assert.Contains($"using cached {path}", again.ToString());
        Assert.Equal(5, card.Architecture.NumClasses);
        Assert.Equal(["0", "1", "2", "3", "4"], card.Labels);
        Assert.Equal(Preprocessing.ImageNet, card.Preprocessing);
    }

    [Fact]
    public void A_corrupted_download_is_refused_and_not_kept()
    {
        var (bytes, name) = Fixture();
        var corrupt = (byte[])bytes.Clone();
        corrupt[corrupt.Length / 2] ^= 0x55;
        string cache = scratch.New();
        using var server = new LocalHttpServer(new() { [$"/models/{name}"] = corrupt });
        var e = Assert.Throws<InvalidDataException>(() => ImageNetWeights.GetOrDownload(Options(server.Port, cache, name, new StringWriter())));
        Assert.Contains("corrupt", e.Message);
        Assert.Contains($"does not start with {name[5..13]}", e.Message);
        Assert.Contains("not kept", e.Message);
        Assert.Empty(Directory.GetFiles(cache));
    }

    [Fact]
    public void A_damaged_cached_copy_is_downloaded_again()
    {
        var (bytes, name) = Fixture();
        string cache = scratch.New();
        File.WriteAllBytes(Path.Combine(cache, name), [1, 2, 3]);
        using var server = new LocalHttpServer(new() { [$"/models/{name}"] = bytes });
        var log = new StringWriter();
        string path = ImageNetWeights.GetOrDownload(Options(server.Port, cache, name, log));
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Contains("damaged", log.ToString());
        Assert.Single(Directory.GetFiles(cache)); // the damaged copy is gone once a good one is in place
    }

    [Fact]
    public void A_damaged_cached_copy_is_kept_aside_when_it_cannot_be_downloaded_again()
    {
        var (_, name) = Fixture();
        string cache = scratch.New();
        File.WriteAllBytes(Path.Combine(cache, name), [1, 2, 3]);
        var e = Assert.Throws<WeightsDownloadException>(() =>
            ImageNetWeights.GetOrDownload(Options(LocalHttpServer.FreePort(), cache, name, new StringWriter())));
        string aside = Path.Combine(cache, name + ".damaged");
        Assert.Contains($"The damaged cached copy was kept at {aside}", e.Message);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(aside));
    }

    [Fact]
    public void A_server_that_accepts_and_never_answers_is_reported_as_stalled()
    {
        var (_, name) = Fixture();
        // The kernel completes the connection (listen backlog); nothing ever reads the request or answers it.
        var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
            var options = Options(port, scratch.New(), name, new StringWriter()) with { ReadTimeout = TimeSpan.FromSeconds(1) };
            var e = Assert.Throws<WeightsDownloadException>(() => ImageNetWeights.GetOrDownload(options));
            Assert.Contains("stalled: the server accepted the connection but sent no answer for 1 s", e.Message);
        }
        finally
        {
            silent.Stop();
        }
    }

    [Fact]
    public void Offline_fails_at_once_saying_where_to_put_the_file()
    {
        var (_, name) = Fixture();
        string cache = scratch.New();
        var e = Assert.Throws<WeightsDownloadException>(() =>
            ImageNetWeights.GetOrDownload(Options(LocalHttpServer.FreePort(), cache, name, new StringWriter())));
        Assert.Contains($"put it at {Path.Combine(cache, name)}", e.Message);
        Assert.Empty(Directory.GetFiles(cache));
    }

    [Fact]
    public void A_missing_file_on_the_server_names_the_status()
    {
        var (_, name) = Fixture();
        using var server = new LocalHttpServer([]);
        var e = Assert.Throws<WeightsDownloadException>(() =>
            ImageNetWeights.GetOrDownload(Options(server.Port, scratch.New(), name, new StringWriter())));
        Assert.Contains("404", e.Message);
    }

    [Fact]
    public void Hash_prefix_and_cache_directory_follow_torchvision_and_xdg()
    {
        Assert.Equal("f37072fd", ImageNetWeights.HashPrefix(ImageNetWeightsOptions.DefaultFileName));
        Assert.Throws<ArgumentException>(() => ImageNetWeights.HashPrefix("resnet18.pth"));
        var env = new Dictionary<string, string?> { ["HOME"] = "/home/u" };
        Assert.Equal("/home/u/.cache/resnet-mlnet", ImageNetWeights.ResolveCacheDirectory(null, k => env.GetValueOrDefault(k)));
        env["XDG_CACHE_HOME"] = "/xdg";
        Assert.Equal("/xdg/resnet-mlnet", ImageNetWeights.ResolveCacheDirectory(null, k => env.GetValueOrDefault(k)));
        env[ImageNetWeightsOptions.CacheVariable] = "/own";
        Assert.Equal("/own", ImageNetWeights.ResolveCacheDirectory(null, k => env.GetValueOrDefault(k)));
        Assert.Equal("/explicit", ImageNetWeights.ResolveCacheDirectory("/explicit", k => env.GetValueOrDefault(k)));
    }
}
