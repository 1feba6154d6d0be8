using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Imaging;

namespace ResNet.MLNet;

/// <summary>
/// The command line's checks on each row's image file (complete, a known format, within <see cref="ImageLimits.MaxPixels"/>;
/// <see cref="ImageLimits.Check"/>), for an image column that <c>LoadImages</c> fills: once ML.NET has decoded a
/// truncated JPEG or PNG, its missing rows are grey pixels like any others, so the file itself has to be read. Runs
/// before the row's image is decoded (the transforms upstream decode lazily, when the scorer asks for pixels), so an
/// oversized image is refused before it is allocated.
/// </summary>
/// <param name="PathColumn">The text column of file paths that <c>LoadImages</c> reads.</param>
/// <param name="Folder">The folder the paths are relative to, as given to <c>LoadImages</c> (null: as they are).</param>
internal sealed record ImageFileCheck(string PathColumn, string? Folder)
{
    /// <summary>From the options: null when no path column is given.</summary>
    public static ImageFileCheck? From(string? pathColumn, string? folder) => pathColumn is null ? null : new(pathColumn, folder);

    /// <summary>Throws unless <paramref name="schema"/> has the path column as text.</summary>
    public void CheckSchema(DataViewSchema schema, string component)
    {
        if (schema.GetColumnOrNull(PathColumn) is not { Type: TextDataViewType })
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"{component}: ImagePathColumn '{PathColumn}' is not a text column of the data; give the column of file paths that LoadImages reads.");
    }

    /// <summary>A getter that checks the current row's file, throwing <see cref="ImageDecodeException"/> naming it.</summary>
    public Action Checker(DataViewRow row)
    {
        var getter = row.GetGetter<ReadOnlyMemory<char>>(row.Schema[PathColumn]);
        ReadOnlyMemory<char> path = default;
        return () =>
        {
            getter(ref path);
            // An empty path is LoadImages' missing image: it gives no image, and the scorer reports that.
            if (path.IsEmpty) return;
            string file = Folder is null ? path.ToString() : Path.Combine(Folder, path.ToString());
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageDecodeException(file, $"cannot be read ({e.Message}).", e);
            }
            ImageLimits.Check(bytes, file);
        };
    }
}
