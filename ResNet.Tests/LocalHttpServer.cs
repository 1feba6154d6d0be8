using System.Net;
using System.Net.Sockets;

namespace ResNet.Tests;

/// <summary>A file server on 127.0.0.1 for download tests: serves fixed bytes per path and counts requests.</summary>
internal sealed class LocalHttpServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Dictionary<string, byte[]> files;
    private readonly Task loop;
    private int requests;

    /// <summary>Starts serving <paramref name="files"/> (URL path → content) on a free port.</summary>
    public LocalHttpServer(Dictionary<string, byte[]> files)
    {
        this.files = files;
        Port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        loop = Task.Run(Serve);
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Requests answered so far.</summary>
    public int Requests => Volatile.Read(ref requests);

    /// <summary>A port nothing listens on right now (taken from the OS, then released).</summary>
    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            Interlocked.Increment(ref requests);
            using var response = context.Response;
            if (files.TryGetValue(context.Request.Url!.AbsolutePath, out var body))
            {
                response.ContentLength64 = body.Length;
                await response.OutputStream.WriteAsync(body);
            }
            else
            {
                response.StatusCode = 404;
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }
}
