using Microsoft.ML;
using Microsoft.ML.Runtime;
using ResNet.Training.Data;
using ResNet.Training.Engines;
using ResNet.Training.Training;
using ResNet.Training.Weights;
using TorchSharp;

namespace ResNet.MLNet;

/// <summary>Options of the ResNet18 fine-tuning trainer (<c>ml.MulticlassClassification.Trainers.ResNet18</c>).</summary>
public sealed class ResNet18TrainerOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; set; } = 5;
    /// <summary>Images per optimiser step (at least 2: BatchNorm needs two).</summary>
    public int BatchSize { get; set; } = 32;
    /// <summary>Peak learning rate of the one-cycle schedule.</summary>
    public double LearningRate { get; set; } = 0.01;
    /// <summary>SGD with Nesterov momentum, or AdamW.</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;
    /// <summary>Weight decay.</summary>
    public double WeightDecay { get; set; } = 5e-4;
    /// <summary>Label smoothing of the training loss.</summary>
    public double LabelSmoothing { get; set; } = 0.1;
    /// <summary>
    /// The network to start from: <see cref="ResNet18Weights.ImageNet"/> (the default) or <c>ResNet18Weights.FromFile("model.pt")</c>.
    /// Its preprocessing is kept; its head is replaced when its classes differ from the label's.
    /// </summary>
    public ResNet18Weights InitialWeights { get; set; } = ResNet18Weights.ImageNet;
    /// <summary>Train only the classifier head (the backbone stays as it is); the same as <see cref="FreezeThrough"/> = 4.</summary>
    public bool FreezeBackbone { get; set; }
    /// <summary>
    /// Freeze the stem and stages 1..k (layer1..layer<i>k</i>; 4 = the whole backbone) and train the later stages and the
    /// head on the frozen part's activations, computed once without augmentation (as ML.NET's <c>ImageClassificationTrainer</c>
    /// caches its bottleneck): many epochs cost little more than one. Null (and <see cref="FreezeBackbone"/> false) trains everything.
    /// </summary>
    public int? FreezeThrough { get; set; }
    /// <summary>
    /// Data evaluated after every epoch (accuracy and loss in the log). It must hold the columns the trainer sees, so
    /// transform it with the estimators before the trainer (e.g. <c>loadImages.Fit(train).Transform(validation)</c>).
    /// </summary>
    public IDataView? ValidationSet { get; set; }
    /// <summary>When set, the trained weights are also written here (.pt with its .json card), for the command line or a later <c>FromFile</c>.</summary>
    public string? SaveWeightsTo { get; set; }
    /// <summary>When set, the fitted transformer also writes the 512-d features to this column.</summary>
    public string? FeaturesColumnName { get; set; }
    /// <summary>The fitted transformer's probabilities column.</summary>
    public string ScoreColumnName { get; set; } = "Score";
    /// <summary>The fitted transformer's predicted class column (key type with the class names).</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";
    /// <summary>Rows per ONNX Runtime call when the fitted transformer scores.</summary>
    public int ScoringBatchSize { get; set; } = 32;
    /// <summary>Seeds the new head's initialisation, the data order and the augmentation.</summary>
    public int Seed { get; set; } = 1;
    /// <summary>
    /// The CUDA GPU to train on (a TorchSharp CUDA build, <c>-p:TorchBackend=cuda</c>) and that the fitted transformer
    /// scores on (ONNX Runtime's CUDA provider); null (the default) uses the CPU.
    /// </summary>
    public int? GpuDeviceId { get; set; }
    /// <summary>With <see cref="GpuDeviceId"/> set and CUDA unusable: use the CPU with a warning in <c>MLContext.Log</c> (true), or fail (false, the default).</summary>
    public bool FallbackToCpu { get; set; }
}

/// <summary>
/// Fine-tunes a ResNet18 inside <c>Fit</c> with TorchSharp, and returns a <see cref="ResNet18ClassifierTransformer"/>
/// (Score, key-typed PredictedLabel, optionally Features) that saves and scores like the classifier transform.
/// </summary>
/// <remarks>
/// The label column must be a key type; its key values are the class names. The image column takes what the
/// transforms take (see <see cref="ResNet18FeaturizerEstimator"/>); images are resized as the initial weights' card says
/// and held in memory for training (3·Crop² bytes each), with pad+crop and flip augmentation. Progress goes to
/// <c>MLContext.Log</c> (one line per epoch, with validation accuracy when <see cref="ResNet18TrainerOptions.ValidationSet"/>
/// is given). <see cref="ResNet18TrainerOptions.Seed"/> seeds initialisation, data order and augmentation. With
/// <see cref="ResNet18TrainerOptions.GpuDeviceId"/> set, training runs on that CUDA GPU (a TorchSharp CUDA build,
/// <c>-p:TorchBackend=cuda</c>); without one the CPU is used when <see cref="ResNet18TrainerOptions.FallbackToCpu"/> is
/// true, else <c>Fit</c> fails saying so. (ML.NET keeps <c>MLContext.Seed</c>, <c>GpuDeviceId</c> and
/// <c>FallbackToCpu</c> internal to its own components, so they are options here, as in <c>ApplyOnnxModel</c>.)
/// </remarks>
/// <example>
/// <code>
/// var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
///     .Append(ml.Transforms.LoadImages("Image", imageFolder, "ImagePath"))
///     .Append(ml.MulticlassClassification.Trainers.ResNet18("Label", "Image", new ResNet18TrainerOptions
///     {
///         Epochs = 5, BatchSize = 32, InitialWeights = ResNet18Weights.ImageNet, ValidationSet = validation,
///     }));
/// var model = pipeline.Fit(train);
/// var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
/// </code>
/// </example>
public sealed class ResNet18MulticlassTrainer : IEstimator<ResNet18ClassifierTransformer>
{
    private const string Component = "ResNet18 trainer";
    private readonly ResNetContext context;
    private readonly string labelColumn, imageColumn;
    private readonly ResNet18TrainerOptions options;

    internal ResNet18MulticlassTrainer(ResNetContext context, string labelColumn, string imageColumn, ResNet18TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.InitialWeights);
        this.context = context;
        this.labelColumn = labelColumn;
        this.imageColumn = imageColumn;
        this.options = options;
    }

    private ResNetOutputs Outputs => new(options.FeaturesColumnName, options.ScoreColumnName, options.PredictedLabelColumnName);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ImageInput.Check(inputSchema, imageColumn, options.InitialWeights.Card.Preprocessing, Component);
        var label = inputSchema.LastOrDefault(c => c.Name == labelColumn);
        if (label.Name is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Component}: the label column '{labelColumn}' is not in the data.");
        if (!label.IsKey)
            throw new ArgumentOutOfRangeException(nameof(inputSchema),
                $"{Component}: the label column '{labelColumn}' is {label.ItemType}; it needs a key type: add ml.Transforms.Conversion.MapValueToKey(\"{labelColumn}\") before it.");
        // The class count is only known from the data: describe the output with the initial weights' head.
        return OutputColumns.Add(inputSchema, Outputs, options.InitialWeights.Card);
    }

    /// <inheritdoc/>
    public ResNet18ClassifierTransformer Fit(IDataView input)
    {
        var host = context.Environment.Register(nameof(ResNet18MulticlassTrainer));
        using var ch = host.Start("Fit");
        var classNames = TrainingImages.ClassNames(input.Schema, labelColumn, Component);
        var initial = options.InitialWeights;
        var preprocessing = initial.Card.Preprocessing;
        var ml = context.Ml;

        var train = TrainingImages.Read(ml, input, imageColumn, labelColumn, classNames, preprocessing, Component, out int unlabelled);
        if (unlabelled > 0) ch.Warning(MessageSensitivity.None, $"{unlabelled} training rows have no label (missing key) and were left out.");
        var validation = options.ValidationSet is null ? null : ReadValidation(ml, classNames, preprocessing, ch);
        ch.Info(MessageSensitivity.None,
            $"Fine-tuning {initial} on {train.Count} images of {classNames.Length} classes ({string.Join(", ", classNames.Take(10))}{(classNames.Length > 10 ? ", …" : "")}); " +
            $"{options.Epochs} epochs, batch {options.BatchSize}, lr {options.LearningRate}{(validation is null ? "" : $", validating on {validation.Count} images")}.");

        var device = Device(ch);
        int seed = options.Seed;
        torch.manual_seed(seed);
        var (model, card) = initial.LoadModel();
        try
        {
            if (model.Config.NumClasses != classNames.Length || !card.Labels.SequenceEqual(classNames))
            {
                ch.Info(MessageSensitivity.None, $"New {classNames.Length}-class head in place of the initial weights' {model.Config.NumClasses}-class head.");
                model.ReplaceHead(classNames.Length);
            }
            int? frozen = options.FreezeThrough ?? (options.FreezeBackbone ? 4 : null);
            IDataset fitTrain = train;
            IDataset? fitValidation = validation;
            if (frozen is { } stage)
            {
                model.FreezeThrough(stage);
                model.to(device);
                // The training split's cache holds each image and its mirror, so that training keeps the flip augmentation.
                FrozenFeatureCache Cache(IDataset data, string split, bool mirrored) => FrozenFeatureCache.Build(model, stage, data, Math.Max(options.BatchSize, 32),
                    progress: (done, total) => ch.Info(MessageSensitivity.None, $"Caching layer{stage} activations of the {split} images: {done}/{total}."),
                    mirrored: mirrored);
                fitTrain = Cache(train, "training", mirrored: true);
                fitValidation = validation is null ? null : Cache(validation, "validation", mirrored: false);
                model.InputStage = stage;
            }
            var trainer = new Trainer(new TrainingOptions
            {
                Epochs = options.Epochs, BatchSize = options.BatchSize, LearningRate = options.LearningRate, Optimizer = options.Optimizer,
                WeightDecay = options.WeightDecay, LabelSmoothing = options.LabelSmoothing, Seed = seed,
            }, device)
            {
                Progress = p =>
                {
                    if (p.Phase == ProgressPhase.EpochEnd && p.Metrics is { } m)
                        ch.Info(MessageSensitivity.None,
                            $"epoch {m.Epoch}/{options.Epochs}: train loss {m.TrainLoss:F4}, accuracy {m.TrainAccuracy:F3}" +
                            (m.ValTop1 is { } v ? $"; validation loss {m.ValLoss:F4}, accuracy {v:F3}" : "") +
                            $"; {m.ImagesPerSecond:F0} img/s, {m.Seconds:F1} s");
                },
            };
            var result = trainer.Fit(model, fitTrain, fitValidation);
            model.InputStage = 0;
            model.FreezeThrough(0);
            model.eval();
            model.cpu();
            var trainedCard = card with { Architecture = model.Config, ClassNames = classNames, Preprocessing = preprocessing };
            if (options.SaveWeightsTo is { } path)
            {
                WeightsFile.Save(model, trainedCard, path);
                ch.Info(MessageSensitivity.None, $"Saved the trained weights to {path}.");
            }
            ch.Info(MessageSensitivity.None, $"Trained in {result.Elapsed.TotalSeconds:F1} s.");
            var weights = ResNet18Weights.FromModel(model, trainedCard, $"ResNet18 fine-tuned from {initial}");
            return new ResNet18ClassifierTransformer(new ResNetScoring(context, weights, imageColumn, Outputs, options.ScoringBatchSize,
                new ScoringDevice(options.GpuDeviceId, options.FallbackToCpu), input, Component));
        }
        finally
        {
            model.Dispose();
        }
    }

    private ResNet.Training.Data.InMemoryDataset ReadValidation(MLContext ml, string[] classNames, ResNet.Training.Imaging.Preprocessing preprocessing, IChannel ch)
    {
        var data = options.ValidationSet!;
        foreach (var column in new[] { imageColumn, labelColumn })
            if (data.Schema.GetColumnOrNull(column) is null)
                throw new ArgumentOutOfRangeException(nameof(ResNet18TrainerOptions.ValidationSet),
                    $"{Component}: the validation set has no column '{column}'. It must hold the columns the trainer sees: " +
                    "transform it with the estimators that come before the trainer in the pipeline (fitted on the training data).");
        var names = TrainingImages.ClassNames(data.Schema, labelColumn, Component + " (validation set)");
        if (!names.SequenceEqual(classNames))
            throw new ArgumentException(
                $"{Component}: the validation set's label '{labelColumn}' has classes {string.Join(", ", names)}, the training data {string.Join(", ", classNames)}: " +
                "map both with the same MapValueToKey (fit it once and transform both).");
        var set = TrainingImages.Read(ml, data, imageColumn, labelColumn, classNames, preprocessing, Component + " (validation set)", out int unlabelled);
        if (unlabelled > 0) ch.Warning(MessageSensitivity.None, $"{unlabelled} validation rows have no label and were left out.");
        return set;
    }

    private torch.Device Device(IChannel ch)
    {
        if (options.GpuDeviceId is not int id) return torch.CPU;
        if (torch.cuda.is_available()) return TorchDevice.Resolve(DeviceChoice.Cuda, id);
        if (!options.FallbackToCpu)
            throw new InvalidOperationException(
                $"{Component}: GpuDeviceId is {id} but TorchSharp sees no usable CUDA GPU. Reference TorchSharp-cuda-linux or TorchSharp-cuda-windows on a machine with an NVIDIA driver, or set FallbackToCpu = true.");
        ch.Warning(MessageSensitivity.None, $"GpuDeviceId is {id} but no CUDA GPU is usable: training on the CPU (FallbackToCpu).");
        return torch.CPU;
    }
}
