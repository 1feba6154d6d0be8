namespace ResNet.Training.Onnx;

/// <summary>
/// Names in every ONNX model <see cref="OnnxExporter"/> writes: the graph's input and outputs, the dynamic batch
/// dimension and the metadata keys. Consumers (ONNX Runtime, ML.NET's OnnxTransformer) bind to these.
/// </summary>
public static class OnnxNames
{
    /// <summary>The image input, N×3×H×W float: normalised Crop² pixels, or 0–255 Resize² planes with baked-in preprocessing.</summary>
    public const string Input = "input";
    /// <summary>The pooled penultimate features, N×512 float.</summary>
    public const string Features = "features";
    /// <summary>The classifier's logits, N×K float.</summary>
    public const string Logits = "logits";
    /// <summary>Softmax of the logits, N×K float (only when exported with probabilities).</summary>
    public const string Probabilities = "probabilities";
    /// <summary>Symbolic name of the dynamic batch dimension.</summary>
    public const string BatchDim = "N";
    /// <summary>The model's producer name.</summary>
    public const string Producer = "ResNet.MLNet";

    /// <summary>Metadata keys (ONNX <c>metadata_props</c>).</summary>
    public static class Metadata
    {
        /// <summary>The whole <see cref="Weights.ModelCard"/> as JSON: what <see cref="OnnxModelInfo"/> reads back.</summary>
        public const string ModelCard = "model_card";
        /// <summary>Class names in logit order, a JSON array of strings.</summary>
        public const string ClassNames = "class_names";
        /// <summary>The network's input side (the crop), in pixels.</summary>
        public const string InputSize = "input_size";
        /// <summary>The side images are resized to before the centre crop, in pixels.</summary>
        public const string Resize = "resize";
        /// <summary>Per-channel mean (RGB, 0–1 scale), a JSON array.</summary>
        public const string Mean = "mean";
        /// <summary>Per-channel standard deviation (RGB, 0–1 scale), a JSON array.</summary>
        public const string Std = "std";
        /// <summary>"true" when the graph takes 0–255 Resize² planes and crops and normalises itself.</summary>
        public const string WithPreprocessing = "with_preprocessing";
        /// <summary>Lower-case hex SHA-256 of the weights file the model was exported from (absent when unknown).</summary>
        public const string SourceSha256 = "source_sha256";
    }
}
