using System.Reflection;
using System.Runtime.CompilerServices;

namespace ResNet.Training.Weights;

/// <summary>
/// Binds TorchSharp.PyBridge (built against TorchSharp 0.103) to the TorchSharp this library uses, in hosts with an
/// assembly loader of their own. A .NET app binds PyBridge's reference to the newer TorchSharp it ships by itself. The
/// .NET Interactive (Polyglot notebook) kernel does not: Roslyn's script loader gives an assembly the dependencies it
/// finds in its own folder only when their version matches exactly, so with TorchSharp.dll beside PyBridge it loads a
/// second TorchSharp (and PyBridge's methods then fail with <see cref="MissingMethodException"/>), and without it the
/// load fails. notebooks/NotebookLib therefore publishes PyBridge into a folder of its own, and the failed load ends
/// here, where it gets the one TorchSharp already in use.
/// </summary>
internal static class PyBridgeBinding
{
#pragma warning disable CA2255 // a library's module initializer: the handler must be in place before PyBridge's first use is compiled
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install() => AppDomain.CurrentDomain.AssemblyResolve += (_, args) =>
        args.RequestingAssembly?.GetName().Name == "TorchSharp.PyBridge" && new AssemblyName(args.Name).Name == "TorchSharp"
            ? typeof(TorchSharp.torch).Assembly
            : null;
}
