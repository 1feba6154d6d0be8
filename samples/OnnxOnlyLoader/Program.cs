using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;

// Usage: OnnxOnlyLoader MODEL.zip IMAGES.txt OUTPUT.tsv COLUMN...
// Loads MODEL.zip (saved with mlContext.Model.Save, input column "ImagePath"), scores the image paths listed one per
// line in IMAGES.txt and writes one line per image: the requested columns, tab-separated; vectors as comma-separated
// floats (round-trip precision), key columns as their key value (class name).
if (args.Length < 4)
{
    Console.Error.WriteLine("usage: OnnxOnlyLoader MODEL.zip IMAGES.txt OUTPUT.tsv COLUMN...");
    return 2;
}
var ml = new MLContext();
// The zip holds no ONNX Runtime settings, so the loading context's apply: ONNX Runtime's own default thread count (its
// count of physical cores) was one thread on a 2-core VM, at half the speed (docs/mlnet.md, "Speed of a reloaded model").
ml.SetOnnxSessionOption(new OnnxSessionOptions { IntraOpNumThreads = Environment.ProcessorCount });
var model = ml.Model.Load(args[0], out _);
var rows = File.ReadAllLines(args[1]).Where(l => l.Length > 0).Select(p => new ImageRow { ImagePath = p }).ToList();
var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
var columns = args[3..].Select(name => scored.Schema[name]).ToArray();
using var writer = new StreamWriter(args[2]);
using var cursor = scored.GetRowCursor(columns);
var writers = columns.Select(c => MakeWriter(cursor, c)).ToArray();
while (cursor.MoveNext())
    writer.WriteLine(string.Join('\t', writers.Select(w => w())));
Console.WriteLine($"scored {rows.Count} images with {string.Join(", ", AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Where(n => n!.StartsWith("Microsoft.ML.Onnx")).Distinct())}");
return 0;

static Func<string> MakeWriter(DataViewRowCursor cursor, DataViewSchema.Column column)
{
    if (column.Type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Single)
    {
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        var value = default(VBuffer<float>);
        return () =>
        {
            getter(ref value);
            return string.Join(',', value.DenseValues().Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        };
    }
    if (column.Type is KeyDataViewType)
    {
        var getter = cursor.GetGetter<uint>(column);
        var names = default(VBuffer<ReadOnlyMemory<char>>);
        column.GetKeyValues(ref names);
        var keys = names.DenseValues().Select(n => n.ToString()).ToArray();
        uint key = 0;
        return () =>
        {
            getter(ref key);
            return key == 0 ? "" : keys[key - 1];
        };
    }
    throw new ArgumentException($"Column '{column.Name}' is {column.Type}; this loader writes Single vectors and key columns.");
}

internal sealed class ImageRow
{
    public string ImagePath { get; set; } = "";
}
