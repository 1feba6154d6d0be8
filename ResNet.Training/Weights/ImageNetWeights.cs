using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Training;

namespace ResNet.Training.Weights;

/// <summary>Where and how <see cref="ImageNetWeights"/> gets its file; every member has a working default.</summary>
public sealed record ImageNetWeightsOptions
{
    /// <summary>torchvision's download folder for model weights.</summary>
    public const string DefaultBaseUrl = "https://download.pytorch.org/models/";
    /// <summary>torchvision's ImageNet ResNet18 (IMAGENET1K_V1); the hex after the dash is the start of its SHA-256.</summary>
    public const string DefaultFileName = "resnet18-f37072fd.pth";
    /// <summary>Environment variable overriding <see cref="BaseUrl"/>'s default (e.g. a mirror).</summary>
    public const string BaseUrlVariable = "RESNET_MLNET_WEIGHTS_URL";
    /// <summary>Environment variable overriding the cache directory.</summary>
    public const string CacheVariable = "RESNET_MLNET_CACHE";

    /// <summary>Folder URL the file is fetched from; null: <see cref="BaseUrlVariable"/>, else <see cref="DefaultBaseUrl"/>.</summary>
    public string? BaseUrl { get; init; }
    /// <summary>Cache folder; null: <see cref="CacheVariable"/>, else $XDG_CACHE_HOME/resnet-mlnet, else ~/.cache/resnet-mlnet.</summary>
    public string? CacheDirectory { get; init; }
    /// <summary>File name; must carry the start of the file's SHA-256 after a dash, as torchvision's names do.</summary>
    public string FileName { get; init; } = DefaultFileName;
    /// <summary>Where progress goes; null: standard error.</summary>
    public TextWriter? Progress { get; init; }
    /// <summary>How long to wait for a connection before calling the machine offline.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How long the server may stay silent (no answer, or no new bytes) before the download is called stalled and stopped.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>Thrown when the weights cannot be fetched; the message says where to put the file by hand.</summary>
public sealed class WeightsDownloadException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// torchvision's official ImageNet ResNet18 weights (1000 classes, torchvision layout; use with
/// <see cref="Preprocessing.ImageNet"/>), downloaded once into a user cache and reused.
/// Integrity is checked as torchvision checks it: the file's SHA-256 must start with the hex in its name
/// (<c>resnet18-f37072fd.pth</c> → <c>f37072fd…</c>); the full digest is not published with the file.
/// </summary>
public static partial class ImageNetWeights
{
    [GeneratedRegex("-([a-f0-9]+)\\.")]
    private static partial Regex HashInName();

    /// <summary>Returns the path of the verified weights file, downloading it first when the cache does not hold a good copy.</summary>
    public static string GetOrDownload(ImageNetWeightsOptions? options = null, CancellationToken cancel = default)
    {
        options ??= new ImageNetWeightsOptions();
        var progress = options.Progress ?? Console.Error;
        string prefix = HashPrefix(options.FileName);
        string cache = ResolveCacheDirectory(options.CacheDirectory, Environment.GetEnvironmentVariable);
        string target = Path.Combine(cache, options.FileName);
        string baseUrl = options.BaseUrl ?? (Environment.GetEnvironmentVariable(ImageNetWeightsOptions.BaseUrlVariable) is { Length: > 0 } env
            ? env : ImageNetWeightsOptions.DefaultBaseUrl);
        var url = new Uri(new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/"), options.FileName);

        string? aside = null;
        if (File.Exists(target))
        {
            string digest = WeightsFile.Sha256(target);
            if (digest.StartsWith(prefix, StringComparison.Ordinal))
            {
                progress.WriteLine($"using cached {target} (SHA-256 {digest[..12]}… matches its name)");
                return target;
            }
            // Kept aside, not deleted: offline, it may be the only copy (and worth inspecting).
            aside = target + ".damaged";
            File.Move(target, aside, overwrite: true);
            progress.WriteLine($"cached {target} is damaged (SHA-256 {digest[..12]}… does not start with {prefix}); moved it to {aside} and downloading it again");
        }

        Directory.CreateDirectory(cache);
        try
        {
            using (var partial = AtomicFile.Begin(target))
            {
                string digest = Download(url, partial.Stream, options, progress, target, cancel);
                if (!digest.StartsWith(prefix, StringComparison.Ordinal))
                    throw new InvalidDataException(
                        $"The download of {url} is corrupt: its SHA-256 is {digest}, which does not start with {prefix} as the file name requires. " +
                        "The file was not kept; run the command again, or fetch the file by hand and put it at " + target + ".");
                partial.Commit();
                progress.WriteLine($"saved {target} (SHA-256 {digest[..12]}… verified)");
            }
            if (aside is not null) File.Delete(aside);
            return target;
        }
        catch (Exception e) when (aside is not null && e is WeightsDownloadException or InvalidDataException)
        {
            throw new WeightsDownloadException($"{e.Message} The damaged cached copy was kept at {aside}.", e);
        }
    }

    /// <summary>
    /// Loads the ImageNet network (downloading it when needed) with its card: 1000 numbered classes — the class names
    /// are not part of the weights file, pass your own labels for names — and <see cref="Preprocessing.ImageNet"/>.
    /// </summary>
    public static (ResNetModel Model, ModelCard Card) Load(ImageNetWeightsOptions? options = null, CancellationToken cancel = default)
    {
        var (model, card) = WeightsFile.Load(GetOrDownload(options, cancel));
        return (model, card with { Preprocessing = Preprocessing.ImageNet });
    }

    /// <summary>The start of the SHA-256 that a torchvision-style file name promises (<c>name-HEX.ext</c>), as torchvision's <c>check_hash</c> reads it.</summary>
    public static string HashPrefix(string fileName)
    {
        var match = HashInName().Match(fileName);
        if (!match.Success)
            throw new ArgumentException($"'{fileName}' has no SHA-256 prefix in its name (name-<hex>.pth), so a download could not be verified.");
        return match.Groups[1].Value;
    }

    /// <summary>
    /// The cache folder: <paramref name="explicitDirectory"/> when given, else <c>RESNET_MLNET_CACHE</c>, else
    /// <c>$XDG_CACHE_HOME/resnet-mlnet</c>, else <c>~/.cache/resnet-mlnet</c> (on Windows, LocalApplicationData\resnet-mlnet).
    /// </summary>
    public static string ResolveCacheDirectory(string? explicitDirectory, Func<string, string?> environment)
    {
        if (!string.IsNullOrEmpty(explicitDirectory)) return Path.GetFullPath(explicitDirectory);
        if (environment(ImageNetWeightsOptions.CacheVariable) is { Length: > 0 } own) return Path.GetFullPath(own);
        if (environment("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "resnet-mlnet");
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "resnet-mlnet");
        string home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".cache", "resnet-mlnet");
    }

    /// <summary>Streams <paramref name="url"/> into <paramref name="file"/>, reporting progress; returns the SHA-256 of what arrived.</summary>
    private static string Download(Uri url, Stream file, ImageNetWeightsOptions options, TextWriter progress, string target, CancellationToken cancel)
    {
        using var handler = new SocketsHttpHandler { ConnectTimeout = options.ConnectTimeout };
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        // The stall timer restarts before each wait for the server: the answer, then every read of the body.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        string Stalled(string what) =>
            $"The download of {url} stalled: {what} for {options.ReadTimeout.TotalSeconds:F0} s, so it was stopped; nothing was kept. " +
            $"Run the command again later, or put the file at {target} by hand.";
        HttpResponseMessage response;
        try
        {
            stall.CancelAfter(options.ReadTimeout);
            response = client.Send(new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead, stall.Token);
        }
        catch (OperationCanceledException e) when (!cancel.IsCancellationRequested && stall.IsCancellationRequested)
        {
            throw new WeightsDownloadException(Stalled("the server accepted the connection but sent no answer"), e);
        }
        catch (Exception e) when (e is HttpRequestException or SocketException || e is TaskCanceledException && !cancel.IsCancellationRequested)
        {
            throw new WeightsDownloadException(
                $"Cannot download {url} ({e.Message}). Without a connection, fetch that file on another machine and put it at {target} " +
                $"(PyTorch's copy in ~/.cache/torch/hub/checkpoints/{options.FileName} is the same file), or set {ImageNetWeightsOptions.CacheVariable} to a folder that holds it.", e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw new WeightsDownloadException(
                    $"Cannot download {url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}. Put the file at {target} by hand, or point {ImageNetWeightsOptions.BaseUrlVariable} at a folder that serves it.");
            long? total = response.Content.Headers.ContentLength;
            progress.WriteLine($"downloading {url} to {target}" + (total is { } t ? $" ({Megabytes(t)})" : ""));
            using var body = response.Content.ReadAsStream(cancel);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 16];
            long received = 0;
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            int read;
            try
            {
                while (true)
                {
                    stall.CancelAfter(options.ReadTimeout);
                    read = body.ReadAsync(buffer.AsMemory(), stall.Token).AsTask().GetAwaiter().GetResult();
                    if (read == 0) break;
                    cancel.ThrowIfCancellationRequested();
                    file.Write(buffer, 0, read);
                    hash.AppendData(buffer, 0, read);
                    received += read;
                    if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(1))
                    {
                        lastReport = clock.Elapsed;
                        progress.WriteLine("  " + Progress(received, total));
                    }
                }
            }
            catch (OperationCanceledException e) when (!cancel.IsCancellationRequested && stall.IsCancellationRequested)
            {
                throw new WeightsDownloadException(Stalled($"no data after {Megabytes(received)}"), e);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw new WeightsDownloadException($"The download of {url} broke off after {Megabytes(received)} ({e.Message}); nothing was kept. Run the command again, or put the file at {target} by hand.", e);
            }
            if (total is { } expected && received != expected)
                throw new WeightsDownloadException($"The download of {url} stopped at {Megabytes(received)} of {Megabytes(expected)}; nothing was kept. Run the command again.");
            progress.WriteLine("  " + Progress(received, total));
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
    }

    private static string Progress(long received, long? total) => total is > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{Megabytes(received)} of {Megabytes(total.Value)} ({100.0 * received / total.Value:F0}%)")
        : Megabytes(received);

    private static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB");
}
