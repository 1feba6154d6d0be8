namespace ResNet.MLNet;

/// <summary>Reading exceptions that ML.NET wraps (a getter's failure arrives inside one or more wrappers).</summary>
internal static class ExceptionChain
{
    /// <summary>The innermost exception of the chain: the one whose message says what went wrong with the row.</summary>
    public static Exception Innermost(this Exception e) => e.InnerException is null ? e : e.InnerException.Innermost();
}
