using System.Runtime.ExceptionServices;
using ResNet.Training.Model;
using ResNet.Training.Weights;
using TorchSharp;
using TorchSharp.PyBridge;
using TorchSharp.Modules;
using static TorchSharp.torch.optim;

namespace ResNet.Training.Training;

/// <summary>
/// A checkpoint is a folder: <c>model.pt</c> (PyTorch state dict, loadable by <c>predict</c>, <c>evaluate</c> and PyTorch),
/// <c>model.json</c> (<see cref="ModelCard"/>: architecture, class names, preprocessing), <c>optimizer.pt</c> (PyTorch
/// optimiser state dict) and <c>trainer.json</c> (<see cref="TrainerState"/>). It is written whole into a temporary
/// folder and then swapped in by renames, so a crash or kill at any moment leaves the previous checkpoint loadable:
/// either under its own name or, between the two renames, as <c>NAME.old</c>, which <see cref="Resolve"/> finds.
/// </summary>
public static class Checkpoint
{
    /// <summary>File names inside a checkpoint folder.</summary>
    public const string ModelFile = "model.pt", OptimizerFile = "optimizer.pt", StateFile = "trainer.json";

    /// <summary>Called after the model is written and before the swap; tests use it to simulate a crash mid-write.</summary>
    internal static Action<string>? BeforeCommit;

    /// <summary>Writes a checkpoint folder at <paramref name="folder"/> (replacing any previous one atomically).</summary>
    public static void Save(string folder, ResNetModel model, ModelCard card, OptimizerHelper? optimizer, TrainerState state) =>
        Commit(folder, state, tmp =>
        {
            // TorchSharp.PyBridge deflates every tensor it writes (its zip entries take .NET's default level, with no
            // option): about 1 s for each 42 MB file of ResNet18 (weights, or SGD's momentum) on a 2-core AMD EPYC.
            // At an epoch's end the training threads are idle, so the two files are compressed on two cores at once.
            void WriteModel() => WeightsFile.Save(model, card, Path.Combine(tmp, ModelFile));
            void WriteOptimizer()
            {
                using var stream = File.Create(Path.Combine(tmp, OptimizerFile));
                optimizer!.save_py(stream, leaveOpen: true);
            }
            try
            {
                Parallel.Invoke(optimizer is null ? [WriteModel] : [WriteModel, WriteOptimizer]);
            }
            catch (AggregateException e)
            {
                // The write's own error (an IOException for a full disk, say), as when the files were written in turn.
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        });

    /// <summary>
    /// Writes a checkpoint folder at <paramref name="folder"/> holding the weights (and their card) of the checkpoint
    /// folder <paramref name="source"/>, without optimiser state: the best checkpoint when it is the epoch just saved
    /// as the last one, copied rather than serialised and compressed again.
    /// </summary>
    public static void SaveCopy(string source, string folder, TrainerState state) => Commit(folder, state, tmp =>
    {
        string model = Path.Combine(source, ModelFile);
        File.Copy(model, Path.Combine(tmp, ModelFile));
        File.Copy(ModelCard.PathFor(model), ModelCard.PathFor(Path.Combine(tmp, ModelFile)));
    });

    /// <summary>
    /// Lets <paramref name="write"/> fill a temporary folder beside <paramref name="folder"/>, adds
    /// <paramref name="state"/> and swaps the folder in (see the class summary).
    /// </summary>
    private static void Commit(string folder, TrainerState state, Action<string> write)
    {
        folder = Path.GetFullPath(folder);
        string parent = Path.GetDirectoryName(folder)!, name = Path.GetFileName(folder);
        Directory.CreateDirectory(parent);
        foreach (var stale in Directory.GetDirectories(parent, name + ".tmp-*")) Directory.Delete(stale, recursive: true);
        string tmp = $"{folder}.tmp-{Environment.ProcessId}";
        Directory.CreateDirectory(tmp);
        write(tmp);
        BeforeCommit?.Invoke(tmp);
        // trainer.json last: a folder without it is incomplete by construction.
        File.WriteAllText(Path.Combine(tmp, StateFile), state.ToJson());
        string old = folder + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(folder)) Directory.Move(folder, old);
        Directory.Move(tmp, folder);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    /// <summary>
    /// The complete checkpoint folder for <paramref name="folder"/>: itself, or <c>.old</c> when a crash came between
    /// the renames; null when there is none.
    /// </summary>
    public static string? Resolve(string folder)
    {
        foreach (var candidate in new[] { folder, folder + ".old" })
            if (File.Exists(Path.Combine(candidate, StateFile)) && File.Exists(Path.Combine(candidate, ModelFile)))
                return candidate;
        return null;
    }

    /// <summary>Reads the trainer state of a complete checkpoint folder.</summary>
    public static TrainerState ReadState(string folder)
    {
        string path = Path.Combine(folder, StateFile);
        return TrainerState.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Reads the model card of a checkpoint folder.</summary>
    public static ModelCard ReadCard(string folder)
    {
        string path = ModelCard.PathFor(Path.Combine(folder, ModelFile));
        return ModelCard.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Loads the weights (strictly) and, when given, the optimiser state of a checkpoint folder.</summary>
    public static void Restore(string folder, ResNetModel model, OptimizerHelper? optimizer)
    {
        string modelPath = Path.Combine(folder, ModelFile);
        WeightsFile.LoadInto(model, modelPath);
        if (optimizer is null) return;
        string optimizerPath = Path.Combine(folder, OptimizerFile);
        if (!File.Exists(optimizerPath)) throw new FileNotFoundException($"{folder} has no {OptimizerFile}: it cannot be resumed.", optimizerPath);
        try
        {
            using var stream = File.OpenRead(optimizerPath);
            optimizer.load_py(stream, leaveOpen: true);
        }
        catch (Exception e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"{optimizerPath}: cannot restore the optimiser state ({e.Message}).", e);
        }
    }
}
