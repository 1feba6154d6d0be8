// Makes TorchSharp's native library load on systems whose libstdc++ predates GLIBCXX_3.4.32, such as Debian 12.
//
// libLibTorchSharp.so from TorchSharp 0.107 asks for GLIBCXX_3.4.32 only because it references
// std::ios_base_library_init(), a link-time marker that nothing calls. When the system libstdc++ lacks that version
// the loader refuses the whole library, and TorchSharp then reports a misleading "doesn't contain a reference to
// libtorch". Marking that one version requirement weak (VER_FLG_WEAK in .gnu.version_r) lets the loader accept the
// library; where libstdc++ has the version the flag changes nothing.
//
// One file, compiled twice (docs/packaging.md): into ResNet.Training (RESNET_TRAINING_LIBRARY defined), where
// LibStdCxxCompat patches the copies TorchSharp is about to load when the running system lacks the version; and by
// MSBuild's RoslynCodeTaskFactory from the package's buildTransitive targets, where the WeakenGlibcxxVersion task
// patches the copies in a consumer's build and publish output, whatever the build machine's libstdc++ (the output may
// run on an older system). Only copies are edited, never the NuGet cache.
using System;
using System.IO;
using System.Text;
#if !RESNET_TRAINING_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

#if RESNET_TRAINING_LIBRARY
namespace ResNet.Training.Native;
#endif

/// <summary>Sets VER_FLG_WEAK on one version requirement of a 64-bit little-endian ELF shared library.</summary>
internal static class GlibcxxWeakening
{
    /// <summary>The version TorchSharp 0.107's native library asks for without needing it.</summary>
    public const string Version = "GLIBCXX_3.4.32";
    /// <summary>The native library that asks for it.</summary>
    public const string LibraryName = "libLibTorchSharp.so";

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Marks <paramref name="version"/> weak in <paramref name="path"/>; true when the file changed.</summary>
    /// <remarks>
    /// The change goes to a new file that then replaces the old one by rename: readers see the old or the new library,
    /// never half of one, and a hard link into the NuGet cache keeps pointing at the untouched original.
    /// </remarks>
    public static bool MarkWeak(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (!SetWeakFlag(elf, version))
            return false;
        string tmp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            File.WriteAllBytes(tmp, elf);
            File.Replace(tmp, path, null);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        return true;
    }

    /// <summary>Sets the flag in the bytes of an ELF file; false when it was set already or the file is not such an ELF.</summary>
    static bool SetWeakFlag(byte[] elf, string version)
    {
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

#if !RESNET_TRAINING_LIBRARY
/// <summary>MSBuild task: marks GLIBCXX_3.4.32 weak in the given copies of libLibTorchSharp.so.</summary>
public class WeakenGlibcxxVersion : Task
{
    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        foreach (var item in Libraries)
        {
            string path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                if (GlibcxxWeakening.MarkWeak(path, GlibcxxWeakening.Version))
                    Log.LogMessage(MessageImportance.High, $"{path}: marked {GlibcxxWeakening.Version} weak (runs on libstdc++ older than GCC 13 too).");
            }
            catch (Exception e)
            {
                Log.LogError($"Could not patch {path} for {GlibcxxWeakening.Version}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif
