using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace ResNet.Training.Onnx;

/// <summary>Appends nodes, initializers and typed inputs/outputs to an ONNX graph; value names are the node names.</summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>Starts an empty graph.</summary>
    public OnnxGraphBuilder(string graphName) => Graph = new GraphProto { Name = graphName };

    /// <summary>Appends to an existing graph (e.g. one read from a file).</summary>
    public OnnxGraphBuilder(GraphProto graph) => Graph = graph;

    public GraphProto Graph { get; }

    /// <summary>Adds a float32 constant.</summary>
    public string Initializer(string name, float[] data, params long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");
        if (data.LongLength != dims.Aggregate(1L, (a, b) => a * b))
            throw new ArgumentException($"{name}: {data.Length} values for shape [{string.Join(",", dims)}].");
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds an int64 vector constant (shapes, slice bounds).</summary>
    public string Int64Initializer(string name, long[] data)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(data.Length);
        tensor.Int64Data.AddRange(data);
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds an int64 scalar constant (an index that removes the axis it gathers from).</summary>
    public string Int64Scalar(string name, long value)
    {
        Graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { value } });
        return name;
    }

    /// <summary>Adds a node named <paramref name="name"/> whose single output is also called <paramref name="name"/>.</summary>
    public string Node(string opType, string name, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return name;
    }

    /// <summary>Declares a float32 graph input.</summary>
    public void Input(string name, params object[] dims) => Graph.Input.Add(FloatValue(name, dims));

    /// <summary>Declares a float32 graph output.</summary>
    public void Output(string name, params object[] dims) => Graph.Output.Add(FloatValue(name, dims));

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>A value of type float32 tensor; each dimension is a size (int/long) or a symbolic name (string).</summary>
    private static ValueInfoProto FloatValue(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"Dimension {d} of {name} is neither a size nor a name."),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
