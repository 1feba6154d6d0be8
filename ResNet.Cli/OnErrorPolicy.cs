namespace ResNet.Cli;

/// <summary>What to do with an image that cannot be read (<c>--on-error</c>).</summary>
internal enum OnErrorPolicy
{
    /// <summary>Report it by name on standard error, leave it out, and go on.</summary>
    Skip,
    /// <summary>Stop with an error naming it; no output is written.</summary>
    Fail,
}
