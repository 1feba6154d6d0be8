using System.Runtime.Intrinsics.X86;

namespace ResNet.Training.Onnx;

/// <summary>Numeric precision of an inference model.</summary>
public enum Precision
{
    /// <summary>32-bit floating point (the exported model as is).</summary>
    Float32,
    /// <summary>8-bit integers: a QDQ model from <see cref="Int8Quantizer"/> (uint8 activations, int8 weights).</summary>
    Int8,
}

/// <summary>Range of the int8 weights in a model written by <see cref="Int8Quantizer"/>.</summary>
public enum Int8WeightRange
{
    /// <summary><see cref="Full"/> on CPUs with VNNI (or not x86), <see cref="Reduced"/> elsewhere: see <see cref="Int8Schemes.ForThisCpu"/>.</summary>
    Auto,
    /// <summary>Weights in −127..127: best precision, for CPUs whose int8 dot product does not saturate (x86 VNNI, ARM).</summary>
    Full,
    /// <summary>
    /// 7-bit weights in −64..64 (ONNX Runtime's <c>reduce_range</c>): on x86 CPUs without VNNI, ONNX Runtime multiplies
    /// uint8 activations by int8 weights with VPMADDUBSW, which adds two products into a saturating int16; 255·127·2
    /// overflows it, 255·64·2 does not.
    /// </summary>
    Reduced,
}

/// <summary>Picks the weight range for the CPU the model will run on.</summary>
public static class Int8Schemes
{
    /// <summary>
    /// <see cref="Int8WeightRange.Full"/> when this CPU has an int8 dot product without int16 saturation (AVX-VNNI,
    /// AVX512-VNNI, or a non-x86 CPU), else <see cref="Int8WeightRange.Reduced"/>.
    /// </summary>
    public static Int8WeightRange ForThisCpu()
    {
        if (!X86Base.IsSupported || AvxVnni.IsSupported) return Int8WeightRange.Full;
        return CpuFlags().Contains("avx512_vnni") ? Int8WeightRange.Full : Int8WeightRange.Reduced;
    }

    /// <summary>Resolves <see cref="Int8WeightRange.Auto"/> for this CPU; other values stay as they are.</summary>
    public static Int8WeightRange Resolve(Int8WeightRange range) => range == Int8WeightRange.Auto ? ForThisCpu() : range;

    /// <summary>The first 'flags' line of /proc/cpuinfo as a set (empty where there is none, e.g. not Linux).</summary>
    private static HashSet<string> CpuFlags() => [.. (Native.CpuInfo.Field("flags") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)];
}
