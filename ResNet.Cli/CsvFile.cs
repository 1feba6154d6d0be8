using System.Globalization;
using System.Text;
using ResNet.Training.Training;

namespace ResNet.Cli;

/// <summary>
/// A CSV file written atomically (<see cref="AtomicFile"/>): rows go to a temporary file beside the target, which
/// replaces the target only on <see cref="Commit"/>; disposing without committing deletes it. Numbers use the
/// invariant culture; fields are quoted by <see cref="Csv.Quote"/>.
/// </summary>
internal sealed class CsvFile : IDisposable
{
    private readonly AtomicFile.Pending file;
    private readonly StreamWriter writer;
    private readonly StringBuilder line = new();

    /// <summary>Starts writing <paramref name="path"/> (its folder is created).</summary>
    public CsvFile(string path)
    {
        file = AtomicFile.Begin(path);
        writer = new StreamWriter(file.Stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
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

    private void Append(string field) => line.Append(Csv.Quote(field));

    /// <summary>Finishes the file and moves it into place.</summary>
    public void Commit()
    {
        writer.Dispose();
        file.Commit();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        writer.Dispose();
        file.Dispose();
    }
}
