using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ResNet.Training.Imaging;

namespace ResNet.MLNet;

/// <summary>What the input column of a ResNet transform holds.</summary>
internal enum ImageInputKind
{
    /// <summary>An <see cref="MLImage"/> of any size (from <c>LoadImages</c>): resized and cropped as the card says.</summary>
    Image,
    /// <summary>Encoded image bytes (from <c>LoadRawImageBytes</c>): decoded, then as <see cref="Image"/>.</summary>
    Bytes,
    /// <summary>3×Resize×Resize Single RGB planes, 0–255: what <c>ExtractPixels</c> gives for a Resize×Resize image.</summary>
    Pixels,
}

/// <summary>Checks the input column of a ResNet transform, failing with a message that says what to add to the pipeline.</summary>
internal static class ImageInput
{
    /// <summary>The kind of <paramref name="column"/> in a schema (at <c>Fit</c>/<c>Transform</c>), pixel vector length included.</summary>
    public static ImageInputKind Check(DataViewSchema schema, string column, Preprocessing preprocessing, string component)
    {
        var col = schema.GetColumnOrNull(column) ?? throw Missing(column, schema.Where(c => !c.IsHidden).Select(c => c.Name), component);
        switch (col.Type)
        {
            case ImageDataViewType:
                return ImageInputKind.Image;
            case VectorDataViewType { ItemType: var item } when item == NumberDataViewType.Byte:
                return ImageInputKind.Bytes;
            case VectorDataViewType { ItemType: var item } v when item == NumberDataViewType.Single:
                if (v.Size != preprocessing.ResizedLength)
                    throw Mismatch(column, col.Type.ToString() ?? "?", preprocessing, component,
                        $" The vector has {(v.Size == 0 ? "a variable number of" : v.Size.ToString())} values, not 3×{preprocessing.Resize}×{preprocessing.Resize} = {preprocessing.ResizedLength}.");
                return ImageInputKind.Pixels;
            default:
                throw Mismatch(column, col.Type.ToString() ?? "?", preprocessing, component, "");
        }
    }

    /// <summary>The kind of <paramref name="column"/> in a schema shape (an estimator's <c>GetOutputSchema</c>).</summary>
    public static ImageInputKind Check(SchemaShape shape, string column, Preprocessing preprocessing, string component)
    {
        if (shape.LastOrDefault(c => c.Name == column) is not { Name: not null } col) throw Missing(column, shape.Select(c => c.Name), component);
        if (col.Kind == SchemaShape.Column.VectorKind.Scalar && col.ItemType is ImageDataViewType) return ImageInputKind.Image;
        if (col.Kind != SchemaShape.Column.VectorKind.Scalar && col.ItemType == NumberDataViewType.Byte) return ImageInputKind.Bytes;
        if (col.Kind == SchemaShape.Column.VectorKind.Vector && col.ItemType == NumberDataViewType.Single) return ImageInputKind.Pixels;
        string type = col.Kind == SchemaShape.Column.VectorKind.Scalar ? $"{col.ItemType}" : $"Vector<{col.ItemType}>";
        throw Mismatch(column, type, preprocessing, component, "");
    }

    private static ArgumentOutOfRangeException Missing(string column, IEnumerable<string> columns, string component) =>
        new("inputSchema", $"{component}: the input column '{column}' is not in the data (it has {string.Join(", ", columns.Distinct())}).");

    private static ArgumentOutOfRangeException Mismatch(string column, string type, Preprocessing p, string component, string detail) =>
        new("inputSchema",
            $"{component}: the input column '{column}' is {type}.{detail} It needs an image: add ml.Transforms.LoadImages(\"{column}\", imageFolder, \"ImagePath\") " +
            $"before it (any size; resized to {p.Resize}² and centre-cropped to {p.Crop}² as the model card says), or ml.Transforms.LoadRawImageBytes(\"{column}\", imageFolder, \"ImagePath\") " +
            $"for encoded bytes, or give a Single vector of 3×{p.Resize}×{p.Resize} = {p.ResizedLength} RGB planes of 0–255 values " +
            $"(ml.Transforms.ResizeImages to {p.Resize}×{p.Resize} with IsoCrop, then ml.Transforms.ExtractPixels(interleavePixelColors: false)).");
}
