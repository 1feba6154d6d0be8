using System.Text;

namespace ResNet.Training.Training;

/// <summary>
/// Writes files through a temporary file beside the target and a rename, so a reader (or a crash) never sees half a
/// file and a failed write keeps the previous one. The temporary name is unique, so two writers never share it.
/// Every file the project writes for a user goes through here (checkpoint folders swap whole folders instead, see
/// <see cref="Checkpoint.Save"/>).
/// </summary>
internal static class AtomicFile
{
    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream, Utf8, leaveOpen: true);
        writer.Write(text);
    });

    /// <summary>Lets <paramref name="write"/> fill a stream that replaces <paramref name="path"/> once it returns.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        using var pending = Begin(path);
        write(pending.Stream);
        pending.Commit();
    }

    /// <summary>
    /// Starts writing <paramref name="path"/> (its folder is created): write to <see cref="Pending.Stream"/>, then
    /// <see cref="Pending.Commit"/>; disposing without committing deletes the temporary file and leaves the target alone.
    /// </summary>
    public static Pending Begin(string path) => new(Path.GetFullPath(path));

    /// <summary>A file being written; see <see cref="Begin"/>.</summary>
    public sealed class Pending : IDisposable
    {
        private readonly string path, temporary;
        private bool committed;

        internal Pending(string path)
        {
            this.path = path;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            Stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        }

        /// <summary>Where the content goes.</summary>
        public FileStream Stream { get; }

        /// <summary>Closes the stream and moves the file into place.</summary>
        public void Commit()
        {
            Stream.Dispose();
            File.Move(temporary, path, overwrite: true);
            committed = true;
        }

        /// <summary>Closes the stream; deletes the temporary file unless committed.</summary>
        public void Dispose()
        {
            Stream.Dispose();
            if (!committed) File.Delete(temporary);
        }
    }
}
