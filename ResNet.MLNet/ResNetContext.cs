using Microsoft.ML;

namespace ResNet.MLNet;

/// <summary>Where a ResNet component logs (<see cref="Environment"/>) and what it builds stock transformers with (<see cref="Ml"/>).</summary>
internal sealed record ResNetContext(Microsoft.ML.Runtime.IHostEnvironment Environment, MLContext Ml);
