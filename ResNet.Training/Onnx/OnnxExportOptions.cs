namespace ResNet.Training.Onnx;

/// <summary>Choices for <see cref="OnnxExporter"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Oldest opset written: the first with every operator used here in its current form, and what onnx 1.12's checker knows.</summary>
    public const int MinOpset = 17;
    /// <summary>Newest opset written; ONNX Runtime 1.31 runs every opset up to it (checked by the tests).</summary>
    public const int MaxOpset = 23;

    /// <summary>ONNX opset of the default domain, <see cref="MinOpset"/>..<see cref="MaxOpset"/>.</summary>
    public int Opset { get; init; } = MinOpset;
    /// <summary>
    /// Bake the second preprocessing step into the graph: the input is then 0–255 RGB planes of Resize×Resize (what
    /// ML.NET's ResizeImages + ExtractPixels produce) and the graph centre-crops and normalises.
    /// </summary>
    public bool WithPreprocessing { get; init; }
    /// <summary>Add a third output, <see cref="OnnxNames.Probabilities"/> (softmax of the logits).</summary>
    public bool Probabilities { get; init; }

    /// <summary>Throws when the options cannot be exported.</summary>
    public void Validate()
    {
        if (Opset < MinOpset || Opset > MaxOpset)
            throw new ArgumentException($"Opset {Opset} is not supported: choose {MinOpset}..{MaxOpset}.");
    }

    /// <summary>The ONNX IR version that goes with an opset as each ONNX release paired them (1.12/1.13: opsets 17/18 = IR 8, 1.14/1.15: 19/20 = IR 9, 1.16/1.17: 21/22 = IR 10, 1.18: 23 = IR 11).</summary>
    public static int IrVersionFor(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };
}
