using System.Globalization;
using System.Text;

namespace ResNet.Cli;

/// <summary>
/// A CSV file written atomically: rows go to a temporary file beside the target, which replaces the target only
/// on <see cref="Commit"/>; disposing without committing deletes it. Numbers use the invariant culture; fields are
/// quoted (RFC 4180) when they hold a comma, quote, line break or surrounding spaces.
/// </summary>
internal sealed class CsvFile : IDisposable
{
    private readonly string path, temporary;
    private readonly StreamWriter writer;
    private readonly StringBuilder line = new();
    private bool committed;

    /// <summary>Starts writing <paramref name="path"/> (its folder is created).</summary>
    public CsvFile(string path)
    {
        this.path = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(this.path)!);
        temporary = $"{this.path}.{Guid.NewGuid():N}.tmp";
        writer = new StreamWriter(temporary, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <summary>Writes a row of text fields.</summary>
    public void WriteRow(IEnumerable<string> fields)
    {
        line.Clear();
        foreach (string field in fields)
        {
            if (line.Length > 0) line.Append(',');
            Append(field);
        }
        writer.Write(line.Append('\n'));
    }

    /// <summary>Writes a row: leading text fields, then numbers (shortest round-trip form).</summary>
    public void WriteRow(IEnumerable<string> leading, ReadOnlySpan<float> numbers)
    {
        line.Clear();
        foreach (string field in leading)
        {
            if (line.Length > 0) line.Append(',');
            Append(field);
        }
        foreach (float value in numbers)
            line.Append(',').Append(value.ToString(CultureInfo.InvariantCulture));
        writer.Write(line.Append('\n'));
    }

    /// <summary>Quotes a field when CSV needs it.</summary>
    public static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 || field.Length > 0 && (char.IsWhiteSpace(field[0]) || char.IsWhiteSpace(field[^1]))
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;

    private void Append(string field) => line.Append(Quote(field));

    /// <summary>Finishes the file and moves it into place.</summary>
    public void Commit()
    {
        writer.Dispose();
        File.Move(temporary, path, overwrite: true);
        committed = true;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        writer.Dispose();
        if (!committed && File.Exists(temporary)) File.Delete(temporary);
    }
}
