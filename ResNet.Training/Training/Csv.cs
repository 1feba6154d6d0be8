namespace ResNet.Training.Training;

/// <summary>The project's one CSV field rule (RFC 4180), for every CSV the library and the resnet program write.</summary>
internal static class Csv
{
    /// <summary>
    /// Quotes a field when it holds a comma, quote or line break, or starts or ends with white space (which
    /// spreadsheet programs would otherwise trim); quotes inside are doubled.
    /// </summary>
    public static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 || field.Length > 0 && (char.IsWhiteSpace(field[0]) || char.IsWhiteSpace(field[^1]))
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;
}
