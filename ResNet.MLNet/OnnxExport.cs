using ResNet.Training.Imaging;
using ResNet.Training.Model;
using ResNet.Training.Weights;

namespace ResNet.MLNet;

// PROVISIONAL until the ONNX exporter lands on main: then these two calls go to ResNet.Training.Onnx.
internal static class OnnxExport
{
    public static void WithPreprocessing(ResNetModel model, ModelCard card, string path) =>
        throw new NotImplementedException("ONNX export lands with the exporter.");

    public static ModelCard ReadCard(byte[] model, string source)
    {
        var proto = Onnx.ModelProto.Parser.ParseFrom(model);
        var input = proto.Graph.Input[0].Type.TensorType.Shape.Dim;
        var logits = proto.Graph.Output.First(o => o.Name == ResNet18Weights.LogitsOutput).Type.TensorType.Shape.Dim;
        int resize = (int)input[2].DimValue, classes = (int)logits[1].DimValue;
        return new ModelCard
        {
            Architecture = ResNetConfig.ResNet18(classes, StemKind.Small),
            Preprocessing = new Preprocessing { Resize = resize, Crop = 32 },
        };
    }
}
