using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Training.Training;

/// <summary>
/// SGD's update of one CPU float32 parameter with a momentum buffer, in one pass over its memory instead of libtorch's
/// four (weight decay, momentum, Nesterov's look-ahead, the step): each element of the parameter, its gradient and its
/// buffer is read once and the parameter and buffer written once, with no temporaries.
/// </summary>
/// <remarks>
/// The arithmetic is libtorch's, operation for operation, with its float32 scalars and its fused multiply-adds (ATen's
/// <c>self.add(other, alpha)</c> is <c>fmadd(other, alpha, self)</c>), so the weights equal TorchSharp's SGD to the
/// last bit (HeldScalarOptimizerTests). Why: each of libtorch's four operations is a pass over the whole model, and
/// two of them write temporaries of its size. Measured on a 2-core AMD EPYC (Zen 4), ResNet18's 62 parameters (11.2 M
/// values), two threads (<c>StepProfile -- --optimizer-only</c>): 13–20 ms an optimiser step through libtorch's
/// operations against 7–12 ms fused in alternated runs, 8.0–12.6 ms fused in a later pair; the training program at
/// 32², batch 128, one thread each, six rounds at the same time on the two cores: 1.01–1.06× the images per second of
/// the unfused program (median 1.026×).
/// </remarks>
internal static class FusedSgdKernel
{
    /// <summary>Elements per work item: large enough to amortise scheduling, small enough to balance two threads.</summary>
    private const int ChunkElements = 1 << 16;

    /// <summary>Whether <paramref name="param"/> and its gradient and buffer can take the fused update.</summary>
    public static bool Applies(Tensor param, Tensor grad, Tensor buffer) =>
        param.device_type == DeviceType.CPU && param.dtype == ScalarType.Float32 && grad.dtype == ScalarType.Float32
        && buffer.dtype == ScalarType.Float32 && param.is_contiguous() && grad.is_contiguous() && buffer.is_contiguous()
        && grad.numel() == param.numel() && buffer.numel() == param.numel();

    /// <summary>One parameter's memory, as the kernel sees it.</summary>
    public readonly record struct Slot(nint Param, nint Grad, nint Buffer, long Length);

    /// <summary>The slot of a parameter that <see cref="Applies"/> to; the tensors must outlive its use.</summary>
    public static unsafe Slot SlotOf(Tensor param, Tensor grad, Tensor buffer) =>
        new((nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(param.bytes)),
            (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(grad.bytes)),
            (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(buffer.bytes)), param.numel());

    /// <summary>
    /// Updates every slot: <c>d = grad + decay·param; buffer = buffer·momentum + keep·d; d = nesterov ? d +
    /// momentum·buffer : buffer; param += step·d</c>, in chunks spread over <paramref name="threads"/> threads.
    /// </summary>
    public static void Update(IReadOnlyList<Slot> slots, float decay, float momentum, float keep, bool nesterov, float step, int threads)
    {
        if (slots.Count == 0) return;
        var chunks = new List<(int Slot, long Start, int Length)>();
        for (int s = 0; s < slots.Count; s++)
            for (long start = 0; start < slots[s].Length; start += ChunkElements)
                chunks.Add((s, start, (int)Math.Min(ChunkElements, slots[s].Length - start)));
        void Run(int c)
        {
            var (s, start, length) = chunks[c];
            var slot = slots[s];
            UpdateRange(slot.Param + (nint)(start * sizeof(float)), slot.Grad + (nint)(start * sizeof(float)),
                slot.Buffer + (nint)(start * sizeof(float)), length, decay, momentum, keep, nesterov, step);
        }
        if (threads <= 1) for (int c = 0; c < chunks.Count; c++) Run(c);
        else Parallel.For(0, chunks.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, Run);
    }

    private static unsafe void UpdateRange(nint paramAt, nint gradAt, nint bufferAt, int length,
        float decay, float momentum, float keep, bool nesterov, float step)
    {
        float* p = (float*)paramAt, g = (float*)gradAt, b = (float*)bufferAt;
        int i = 0;
        // One loop at the platform's vector width (memory bound: a wider vector does not change its speed).
        if (Vector.IsHardwareAccelerated)
        {
            Vector<float> vDecay = new(decay), vMomentum = new(momentum), vKeep = new(keep), vStep = new(step);
            for (; i <= length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var param = Vector.Load(p + i);
                var d = Vector.FusedMultiplyAdd(param, vDecay, Vector.Load(g + i));
                var buffer = Vector.FusedMultiplyAdd(d, vKeep, Vector.Load(b + i) * vMomentum);
                buffer.Store(b + i);
                d = nesterov ? Vector.FusedMultiplyAdd(buffer, vMomentum, d) : buffer;
                Vector.FusedMultiplyAdd(d, vStep, param).Store(p + i);
            }
        }
        for (; i < length; i++)
        {
            float d = MathF.FusedMultiplyAdd(p[i], decay, g[i]);
            float buffer = MathF.FusedMultiplyAdd(d, keep, b[i] * momentum);
            b[i] = buffer;
            d = nesterov ? MathF.FusedMultiplyAdd(buffer, momentum, d) : buffer;
            p[i] = MathF.FusedMultiplyAdd(d, step, p[i]);
        }
    }
}
