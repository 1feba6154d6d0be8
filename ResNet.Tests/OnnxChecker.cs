namespace ResNet.Tests;

/// <summary>Runs onnx's full checker (Debian's python3-onnx, installed by .ci/install-deps) over exported files.</summary>
internal static class OnnxChecker
{
    /// <summary>Asserts that every file passes <c>onnx.checker.check_model(full_check=True)</c>, shape inference included.</summary>
    public static void AssertValid(params string[] paths)
    {
        string output = PythonReference.Run("onnx_check.py", paths);
        Assert.Equal(paths.Select(p => $"ok {p}"), output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
