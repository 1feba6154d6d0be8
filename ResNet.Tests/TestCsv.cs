using System.Globalization;
using System.Text;

namespace ResNet.Tests;

/// <summary>The tests' one reader of the text the project writes: CSV rows and numbers in the invariant culture.</summary>
internal static class TestCsv
{
    /// <summary>A number as the project writes it (invariant culture, round-trip form).</summary>
    public static float Float(string s) => float.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>The numbers of a line, separated by <paramref name="separator"/>.</summary>
    public static float[] Floats(string line, char separator = ',') => line.Split(separator).Select(Float).ToArray();

    /// <summary>Rows of a CSV file (RFC 4180): quoted fields may hold commas, quotes and line breaks.</summary>
    public static List<string[]> Read(string path)
    {
        var rows = new List<string[]>();
        var row = new List<string>();
        var field = new StringBuilder();
        string text = File.ReadAllText(path);
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(field.ToString()); field.Clear(); }
            else if (c == '\n') { row.Add(field.ToString()); field.Clear(); rows.Add(row.ToArray()); row.Clear(); }
            else field.Append(c);
        }
        return rows;
    }
}
