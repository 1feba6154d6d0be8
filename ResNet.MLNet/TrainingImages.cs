using Microsoft.ML;
using Microsoft.ML.Data;
using ResNet.Training.Data;
using ResNet.Training.Imaging;
using ResNet.Training.Weights;

namespace ResNet.MLNet;

/// <summary>
/// Reads the images and key labels of an <see cref="IDataView"/> into an <see cref="InMemoryDataset"/> for the
/// TorchSharp trainer. Images go through the same ML.NET resize as at inference (IsoCrop to Resize², RGB planes) and
/// are centre-cropped to Crop², so the trainer's evaluation samples are exactly what the fitted transformer will see;
/// training adds pad+crop and flip augmentation. An IDataView has no random access, so the images are held in memory
/// (3·Crop² bytes each).
/// </summary>
internal static class TrainingImages
{
    /// <summary>
    /// Class names from a key-typed label column's key values; without key values, the logit indices "0".."K-1"
    /// (<see cref="ModelCard.NumberedClasses"/>, as for weights that come without names).
    /// </summary>
    public static string[] ClassNames(DataViewSchema schema, string labelColumn, string component)
    {
        var column = schema.GetColumnOrNull(labelColumn)
            ?? throw new ArgumentOutOfRangeException("inputSchema", $"{component}: the label column '{labelColumn}' is not in the data (it has {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}).");
        if (column.Type is not KeyDataViewType { RawType: var raw } key || raw != typeof(uint) || key.Count < 2)
            throw new ArgumentOutOfRangeException("inputSchema",
                $"{component}: the label column '{labelColumn}' is {column.Type}; it needs a key type of at least two classes, whose key values become the class names: " +
                $"add ml.Transforms.Conversion.MapValueToKey(\"{labelColumn}\") before it.");
        int count = (int)key.Count;
        if (column.Annotations.Schema.GetColumnOrNull(MLNetInternals.AnnotationKeyValues) is not { Type: VectorDataViewType valuesType })
            return ModelCard.NumberedClasses(count);
        var read = typeof(TrainingImages).GetMethod(nameof(KeyValues), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(valuesType.ItemType.RawType);
        var names = (string[])read.Invoke(null, [column])!;
        if (names.Distinct().Count() != names.Length)
            throw new ArgumentOutOfRangeException("inputSchema", $"{component}: the key values of '{labelColumn}' repeat a name; class names must be distinct.");
        return names;
    }

    private static string[] KeyValues<T>(DataViewSchema.Column column)
    {
        var values = default(VBuffer<T>);
        column.GetKeyValues(ref values);
        return values.DenseValues().Select(v => v?.ToString() ?? "").ToArray();
    }

    /// <summary>The images of <paramref name="data"/> (decoded/resized as its kind needs) with their labels; rows without a label are counted in <paramref name="unlabelled"/>.</summary>
    public static InMemoryDataset Read(MLContext ml, IDataView data, string imageColumn, string labelColumn, string[] classNames,
        Preprocessing preprocessing, string component, out int unlabelled)
    {
        var kind = ImageInput.Check(data.Schema, imageColumn, preprocessing, component);
        const string decoded = "__ResNet18.Train.Image", pixels = "__ResNet18.Train.Pixels", resized = "__ResNet18.Train.Resized";
        IDataView source = kind == ImageInputKind.Bytes ? new ImageBytesDataView(data, imageColumn, decoded, component) : data;
        string pixelColumn = imageColumn;
        if (kind != ImageInputKind.Pixels)
        {
            source = ImageLoader.ResizeAndExtract(ml, kind == ImageInputKind.Bytes ? decoded : imageColumn, pixels, preprocessing.Resize, resized)
                .Fit(source).Transform(source);
            pixelColumn = pixels;
        }

        int crop = preprocessing.Crop, resize = preprocessing.Resize, offset = (resize - crop) / 2, sample = 3 * crop * crop;
        var texts = source.Schema.Where(c => !c.IsHidden && c.Type is TextDataViewType).ToList();
        using var cursor = source.GetRowCursor(texts.Append(source.Schema[pixelColumn]).Append(source.Schema[labelColumn]));
        var pixelGetter = cursor.GetGetter<VBuffer<float>>(source.Schema[pixelColumn]);
        var labelGetter = cursor.GetGetter<uint>(source.Schema[labelColumn]);
        var textGetters = texts.Select(c => (c.Name, Getter: cursor.GetGetter<ReadOnlyMemory<char>>(c))).ToList();
        var bytes = new List<byte>();
        var cropped = new byte[sample];
        var labels = new List<int>();
        VBuffer<float> row = default;
        uint label = 0;
        unlabelled = 0;
        while (cursor.MoveNext())
        {
            labelGetter(ref label);
            if (label == 0)
            {
                unlabelled++;
                continue;
            }
            try
            {
                pixelGetter(ref row);
            }
            catch (Exception e)
            {
                string described = string.Join(", ", textGetters.Select(t =>
                {
                    ReadOnlyMemory<char> value = default;
                    t.Getter(ref value);
                    return $"{t.Name} = '{value}'";
                }));
                throw new InvalidOperationException(
                    $"{component}: cannot read the image of row {cursor.Position} ({described}) in column '{imageColumn}': {e.Innermost().Message} " +
                    "Nothing is skipped silently: remove or fix the file, or filter such rows out before training.", e);
            }
            // ExtractPixels gives whole numbers 0–255: bytes hold them exactly.
            var planes = row.IsDense ? row.GetValues() : row.DenseValues().ToArray();
            for (int c = 0, i = 0; c < 3; c++)
                for (int y = 0; y < crop; y++)
                    for (int x = 0; x < crop; x++)
                        cropped[i++] = (byte)Math.Clamp(MathF.Round(planes[(c * resize + y + offset) * resize + x + offset]), 0, 255);
            bytes.AddRange(cropped);
            labels.Add((int)label - 1);
        }
        if (labels.Count == 0)
            throw new InvalidOperationException($"{component}: no labelled rows to train on ({unlabelled} rows have a missing label).");
        var atCrop = preprocessing with { Resize = crop };
        return new InMemoryDataset(bytes.ToArray(), labels.ToArray(), 3, classNames, atCrop,
            new Augmentation { Crop = CropKind.PadCrop, Padding = Math.Max(1, crop / 8) });
    }
}
