using Microsoft.ML;
using Microsoft.ML.Data;

namespace ResNet.MLNet;

/// <summary>
/// The values of one source column for the rows of a batch, so a batching cursor can serve rows after it has moved
/// its source cursor on. Vectors are deep-copied in both directions (ML.NET getters may reuse the buffers they are given).
/// </summary>
internal abstract class ColumnCache
{
    /// <summary>A cache for <paramref name="column"/> of <paramref name="cursor"/> holding <paramref name="capacity"/> rows.</summary>
    public static ColumnCache Create(DataViewRowCursor cursor, DataViewSchema.Column column, int capacity)
    {
        var raw = column.Type.RawType;
        var type = raw.IsGenericType && raw.GetGenericTypeDefinition() == typeof(VBuffer<>)
            ? typeof(VectorCache<>).MakeGenericType(raw.GetGenericArguments()[0])
            : typeof(ValueCache<>).MakeGenericType(raw);
        return (ColumnCache)Activator.CreateInstance(type, cursor, column, capacity)!;
    }

    /// <summary>Reads the cursor's current value into <paramref name="slot"/>.</summary>
    public abstract void Capture(int slot);

    /// <summary>A getter serving the value in the slot <paramref name="slot"/> returns.</summary>
    public abstract ValueGetter<TValue> Getter<TValue>(Func<int> slot);

    /// <summary>"Name = 'value'" for text columns (to name a failing row's file), otherwise null.</summary>
    public virtual string? Describe(int slot) => null;

    private sealed class ValueCache<T>(DataViewRowCursor cursor, DataViewSchema.Column column, int capacity) : ColumnCache
    {
        private readonly ValueGetter<T> source = cursor.GetGetter<T>(column);
        private readonly T[] values = new T[capacity];
        private readonly string name = column.Name;
        private int captured = -1;

        public override void Capture(int slot)
        {
            captured = slot;
            source(ref values[slot]);
        }

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot)
        {
            if (typeof(TValue) != typeof(T))
                throw new InvalidOperationException($"Column '{name}' holds {typeof(T).Name}, not {typeof(TValue).Name}.");
            ValueGetter<T> getter = (ref T dst) => dst = values[slot()];
            return (ValueGetter<TValue>)(Delegate)getter;
        }

        public override string? Describe(int slot)
        {
            // The row being read has not been captured yet when its pixels fail: read it now.
            if (values is not ReadOnlyMemory<char>[] texts) return null;
            if (captured != slot) Capture(slot);
            return $"{name} = '{texts[slot]}'";
        }
    }

    private sealed class VectorCache<T>(DataViewRowCursor cursor, DataViewSchema.Column column, int capacity) : ColumnCache
    {
        private readonly ValueGetter<VBuffer<T>> source = cursor.GetGetter<VBuffer<T>>(column);
        private readonly VBuffer<T>[] values = new VBuffer<T>[capacity];
        private readonly string name = column.Name;

        public override void Capture(int slot) => source(ref values[slot]);

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot)
        {
            if (typeof(TValue) != typeof(VBuffer<T>))
                throw new InvalidOperationException($"Column '{name}' holds VBuffer<{typeof(T).Name}>, not {typeof(TValue).Name}.");
            ValueGetter<VBuffer<T>> getter = (ref VBuffer<T> dst) => values[slot()].CopyTo(ref dst);
            return (ValueGetter<TValue>)(Delegate)getter;
        }
    }
}
