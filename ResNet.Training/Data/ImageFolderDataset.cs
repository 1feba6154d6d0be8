using ResNet.Training.Imaging;

namespace ResNet.Training.Data;

/// <summary>
/// Images in class folders (see <see cref="ImageFolder"/>). Evaluation samples go through the shared inference path,
/// <see cref="ImageLoader"/> + <see cref="Preprocessing.CropAndNormalise(ReadOnlySpan{float}, Span{float})"/>, so
/// validation accuracy is what <c>predict</c> will see; training samples are those planes augmented (pad+crop, flip),
/// or for random-resized-crop decoded with <see cref="ImageDecoder"/> and resampled with the same interpolation. Grayscale images become three equal channels, an alpha channel is dropped, and CMYK JPEGs are converted
/// to RGB by the decoder; a file that fails to decode is skipped and recorded in <see cref="Skipped"/>.
/// </summary>
public sealed class ImageFolderDataset : IDataset, IDisposable
{
    private readonly ImageFolder.Entry[] files;
    private readonly ThreadLocal<ImageLoader> loaders;

    /// <summary>Wraps a scan of a class-folder tree.</summary>
    public ImageFolderDataset(ImageFolder.ScanResult scan, Preprocessing preprocessing, Augmentation? augmentation = null)
    {
        files = scan.Files;
        ClassNames = scan.ClassNames;
        Preprocessing = preprocessing.Validated();
        Augmentation = augmentation ?? Augmentation.For(preprocessing.Crop);
        Skipped = scan.Skipped;
        Root = scan.Root;
        loaders = new ThreadLocal<ImageLoader>(() => new ImageLoader(Preprocessing.Resize), trackAllValues: true);
    }

    /// <summary>Scans <paramref name="root"/> and wraps it.</summary>
    public static ImageFolderDataset Open(string root, Preprocessing preprocessing, IReadOnlyList<string>? classNames = null,
        Augmentation? augmentation = null, SkippedFiles? skipped = null) =>
        new(ImageFolder.Scan(root, classNames, skipped), preprocessing, augmentation);

    /// <summary>The scanned folder.</summary>
    public string Root { get; }
    /// <inheritdoc/>
    public int Count => files.Length;
    /// <inheritdoc/>
    public IReadOnlyList<string> ClassNames { get; }
    /// <inheritdoc/>
    public Preprocessing Preprocessing { get; }
    /// <summary>The training augmentation.</summary>
    public Augmentation Augmentation { get; }
    /// <inheritdoc/>
    public SkippedFiles Skipped { get; }
    /// <inheritdoc/>
    public int LabelOf(int index) => files[index].Label;
    /// <summary>The file of sample <paramref name="index"/>.</summary>
    public string PathOf(int index) => files[index].Path;

    /// <inheritdoc/>
    public bool TryRead(int index, Random? augment, Span<float> dest)
    {
        string path = files[index].Path;
        if (Skipped.Contains(path)) return false;
        try
        {
            if (augment is null)
            {
                Preprocessing.CropAndNormalise(loaders.Value!.Load(path), dest);
            }
            else
            {
                var planes = dest[..Preprocessing.InputLength];
                if (Augmentation.Crop == CropKind.RandomResizedCrop)
                {
                    Augmentation.RandomResizedCrop(ImageDecoder.FromFile(path), Preprocessing.Crop, augment, planes);
                }
                else
                {
                    // The evaluation planes (one resize for training and serving), then pad+crop and flip.
                    var cropped = new float[Preprocessing.InputLength];
                    Preprocessing.CentreCrop(loaders.Value!.Load(path), cropped);
                    Augmentation.ApplyToPlanes(cropped, 3, Preprocessing.Crop, augment, planes);
                }
                Preprocessing.Normalise(planes);
            }
            return true;
        }
        catch (ImageDecodeException e)
        {
            string reason = e.Message.StartsWith(e.ImageSource + ": ", StringComparison.Ordinal) ? e.Message[(e.ImageSource.Length + 2)..] : e.Message;
            Skipped.Add(path, reason.TrimEnd('.'));
            return false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var loader in loaders.Values) loader.Dispose();
        loaders.Dispose();
    }
}
