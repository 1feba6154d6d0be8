// MSBuild task (compiled by RoslynCodeTaskFactory) that makes TorchSharp's native library load on
// systems whose libstdc++ predates GLIBCXX_3.4.32, such as Debian 12.
//
// libLibTorchSharp.so from TorchSharp 0.107 asks for GLIBCXX_3.4.32 only because it references
// std::ios_base_library_init(), a link-time marker that nothing calls. When the system libstdc++ lacks
// that version the loader refuses the whole library, and TorchSharp then reports a misleading
// "doesn't contain a reference to libtorch". Marking that one version requirement weak
// (VER_FLG_WEAK in .gnu.version_r) lets the loader accept the library. The task edits only copies in
// build/test/publish output, never the NuGet cache, and does nothing where libstdc++ already has the version.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxVersion : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string Version { get; set; } = "";

    public override bool Execute()
    {
        if (SystemLibStdCxxHas(Version))
            return true;
        foreach (var item in Libraries)
        {
            string path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                if (MarkWeak(path, Version))
                    Log.LogMessage(MessageImportance.High, $"{Path.GetFileName(path)}: marked {Version} weak (system libstdc++ lacks it).");
            }
            catch (Exception e)
            {
                Log.LogError($"Could not patch {path} for {Version}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool SystemLibStdCxxHas(string version)
    {
        string[] dirs = { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib/x86_64-linux-gnu" };
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (var dir in dirs)
        {
            string lib = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(lib))
                return IndexOf(File.ReadAllBytes(lib), needle) >= 0;
        }
        return true; // no libstdc++ where we can see it: not a system this fix is meant for
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i <= hay.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    /// <summary>Sets VER_FLG_WEAK on the vernaux entry named <paramref name="version"/>; true when the file changed.</summary>
    static bool MarkWeak(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
            return false; // not a 64-bit little-endian ELF
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = (int)(shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(elf, sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            long strOffset = BitConverter.ToInt64(elf, (int)(shoff + link * shentsize) + 0x18);
            bool changed = false;
            long vn = offset;
            while (true)
            {
                int count = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < count; a++)
                {
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strOffset + name) == version)
                    {
                        int flagsAt = (int)aux + 4;
                        ushort flags = BitConverter.ToUInt16(elf, flagsAt);
                        if ((flags & VerFlagWeak) == 0)
                        {
                            BitConverter.GetBytes((ushort)(flags | VerFlagWeak)).CopyTo(elf, flagsAt);
                            changed = true;
                        }
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (next == 0) break;
                vn += next;
            }
            if (changed)
            {
                string tmp = path + ".patching";
                File.WriteAllBytes(tmp, elf);
                File.Delete(path); // a new file, not an edit in place: a hard link would otherwise reach the cache
                File.Move(tmp, path);
            }
            return changed;
        }
        return false;
    }

    static string ReadString(byte[] elf, long at)
    {
        int end = (int)at;
        while (elf[end] != 0) end++;
        return Encoding.ASCII.GetString(elf, (int)at, end - (int)at);
    }
}
