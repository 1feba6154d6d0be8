using ResNet.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ResNet.Tests;

/// <summary>The architecture against He et al. 2015 and torchvision's resnet18.</summary>
public class ModelTests
{
    [Fact]
    public void ResNet18_has_torchvision_state_dict_and_parameter_counts()
    {
        using var m1000 = ResNetModel.ResNet18(1000);
        using var m10 = ResNetModel.ResNet18(10);
        Assert.Equal(122, m1000.state_dict().Count);
        Assert.Equal(11_689_512, m1000.parameters().Sum(p => p.numel()));
        Assert.Equal(11_181_642, m10.parameters().Sum(p => p.numel()));
        var keys = m1000.state_dict().Keys.ToHashSet();
        foreach (var key in new[] { "conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                     "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias", "fc.weight", "fc.bias" })
            Assert.Contains(key, keys);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", keys);
    }

    [Fact]
    public void ResNet34_and_ResNet50_have_torchvisions_parameter_counts()
    {
        using var r34 = new ResNetModel(ResNetConfig.ResNet34());
        using var r50 = new ResNetModel(ResNetConfig.ResNet50());
        Assert.Equal(21_797_672, r34.parameters().Sum(p => p.numel()));
        Assert.Equal(25_557_032, r50.parameters().Sum(p => p.numel()));
        Assert.Equal(2048, r50.Config.FeatureDim);
        Assert.Contains("layer4.2.conv3.weight", r50.state_dict().Keys);
        Assert.Contains("layer1.0.downsample.0.weight", r50.state_dict().Keys); // 64 → 256 channels at stride 1
        Assert.Equal((34, 50), (r34.Config.Depth, r50.Config.Depth));
    }

    [Theory]
    [InlineData(20, ShortcutKind.ZeroPad, 269_722)] // the paper's 0.27M
    [InlineData(32, ShortcutKind.ZeroPad, 464_154)] // 0.46M
    [InlineData(56, ShortcutKind.ZeroPad, 853_018)] // 0.85M
    [InlineData(20, ShortcutKind.Projection, 272_474)] // + two 1×1 projections with their BatchNorms
    [InlineData(20, ShortcutKind.None, 269_722)] // plain: the same layers without shortcuts
    public void Cifar_resnets_have_the_papers_sizes(int depth, ShortcutKind shortcut, long parameters)
    {
        using var model = new ResNetModel(ResNetConfig.Cifar(depth, 10, shortcut));
        Assert.Equal(parameters, model.parameters().Sum(p => p.numel()));
        Assert.Equal(depth, model.Config.Depth);
        Assert.Equal(3 * (depth - 2) / 6, model.Blocks.Count());
        Assert.Equal(64, model.Config.FeatureDim);
        model.eval();
        using var scope = NewDisposeScope();
        var outputs = model.StageOutputs(randn(2, 3, 32, 32));
        Assert.Equal(new long[] { 2, 64, 8, 8 }, outputs[^1].shape);
    }

    [Theory]
    [InlineData(PaddingMode.Symmetric)] // torchvision's
    [InlineData(PaddingMode.SameLower)] // CNTK's: explicit padding before the stem's convolution and max-pool
    public void On_the_cpu_the_network_runs_channels_last_with_the_values_and_gradients_of_nchw(PaddingMode padding)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var model = new ResNetModel(ResNetConfig.ResNet18(10) with { Padding = padding });
        // Evaluation mode: a randomly initialised network in training mode is chaotic at small batches (its input
        // gradient moved by about 1 % when the input moved by 1e-6), so float32 rounding alone would blur the comparison.
        model.eval();
        var x = randn(4, 3, 64, 64);
        // The layout reaches the end: every stage's output has channels-last strides.
        foreach (var stage in model.StageOutputs(x))
            Assert.True(!stage.is_contiguous() && stage.permute(0, 2, 3, 1).is_contiguous(), $"stage output strides {string.Join(",", stage.stride())}");

        var oursInput = x.detach().requires_grad_();
        var ours = model.call(oursInput);
        var upstream = randn(ours.shape);
        ours.backward([upstream]);
        var oursGradients = model.parameters().Select(p => p.grad!.clone()).ToArray();
        model.zero_grad();

        // The reference: torchvision's forward, module by module, on NCHW tensors throughout.
        var modules = model.named_children().ToDictionary(c => c.name, c => (nn.Module<Tensor, Tensor>)c.module);
        var nchwInput = x.detach().requires_grad_();
        var y = nn.functional.relu(model.StemLayer.Forward(nchwInput));
        y = modules["maxpool"].call(StridedPadding.Apply(y, StridedPadding.Explicit(padding, 3, 2), double.NegativeInfinity));
        Assert.True(y.is_contiguous());
        foreach (var stage in new[] { "layer1", "layer2", "layer3", "layer4" }) y = modules[stage].call(y);
        var nchw = model.Head.call(modules["avgpool"].call(y).flatten(1));
        nchw.backward([upstream]);

        Assert.True(ours.allclose(nchw, rtol: 1e-4, atol: 1e-5), $"logits differ by {(ours - nchw).abs().max().item<float>()}");
        Assert.True(RelativeDifference(oursInput.grad!, nchwInput.grad!) < 1e-4, $"input gradients differ by {RelativeDifference(oursInput.grad!, nchwInput.grad!):E1}");
        foreach (var ((name, parameter), ourGradient) in model.named_parameters().Zip(oursGradients))
            Assert.True(RelativeDifference(ourGradient, parameter.grad!) < 1e-4, $"{name}: gradients differ by {RelativeDifference(ourGradient, parameter.grad!):E1}");
    }

    /// <summary>‖a − b‖ / ‖b‖.</summary>
    private static double RelativeDifference(Tensor a, Tensor b) => (a - b).norm().item<float>() / b.norm().item<float>();

    [Theory]
    [InlineData(1L, 1L, 1L)] // layer4's 3×3 convolutions at 32² input: 1×1 maps, the centre tap only
    [InlineData(1L, 1L, 2L)] // layer4's first convolution at 16² input
    public void Maps_with_one_live_tap_per_side_get_the_full_kernels_results(long height, long width, long stride)
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var conv = nn.Conv2d(16, 32, 3, stride: stride, padding: 1, bias: true);
        var x = randn(8, 16, height, width);
        var fullInput = x.detach().requires_grad_();
        var full = conv.call(fullInput);
        var upstream = randn(full.shape);
        full.backward([upstream]);
        var (fullWeightGrad, fullBiasGrad) = (conv.weight!.grad!.clone(), conv.bias!.grad!.clone());
        conv.zero_grad();
        var trimmedInput = x.detach().requires_grad_();
        var trimmed = PaddingOnlyTaps.Convolve(conv, trimmedInput);
        Assert.NotNull(trimmed);
        trimmed.backward([upstream]);
        Assert.Equal(full.shape, trimmed.shape);
        Assert.True(trimmed.allclose(full, rtol: 1e-5, atol: 1e-5), $"outputs differ by {(trimmed - full).abs().max().item<float>()}");
        Assert.True(trimmedInput.grad!.allclose(fullInput.grad!, rtol: 1e-5, atol: 1e-5), "input gradients differ");
        Assert.True(conv.weight.grad!.allclose(fullWeightGrad, rtol: 1e-5, atol: 1e-5), "weight gradients differ");
        Assert.True(conv.bias.grad!.allclose(fullBiasGrad, rtol: 1e-5, atol: 1e-5), "bias gradients differ");
        // The taps left out get exactly zero, as they do from the full kernel, whose inputs there are zero padding.
        var leftOut = fullWeightGrad.eq(0);
        Assert.True(leftOut.any().item<bool>(), "the case must have padding-only taps");
        Assert.True(conv.weight.grad!.masked_select(leftOut).eq(0).all().item<bool>());
    }

    [Theory]
    [InlineData(1L, 3L, 1L, 1L, 1L, 1L, 0L)]
    [InlineData(2L, 3L, 2L, 1L, 1L, 2L, 0L)]
    [InlineData(1L, 7L, 2L, 3L, 3L, 3L, 0L)]
    public void Live_taps_are_those_that_meet_real_input(long size, long kernel, long stride, long padding, long first, long last, long trimmedPadding) =>
        Assert.Equal((first, last, trimmedPadding), PaddingOnlyTaps.LiveTaps(size, kernel, stride, padding));

    [Theory]
    [InlineData(2L, 3L, 1L, 1L)] // layer3 at 32² input: every tap meets a pixel for some output
    [InlineData(32L, 7L, 2L, 3L)] // the stem
    [InlineData(7L, 3L, 1L, 1L)] // layer4 at 224²
    [InlineData(4L, 1L, 2L, 0L)] // a 1×1 projection
    public void Kernels_whose_taps_all_meet_real_input_are_left_whole(long size, long kernel, long stride, long padding) =>
        Assert.Null(PaddingOnlyTaps.LiveTaps(size, kernel, stride, padding));

    [Theory]
    [InlineData(2L, 2L, 2L)] // layer4's first convolution at 32² input: 2×2 taps stay live, which was no faster
    [InlineData(1L, 5L, 1L)] // a 1×5 map: three columns of taps stay live
    [InlineData(7L, 7L, 1L)] // layer4 at 224² input: every tap meets real input
    public void Maps_with_more_than_one_live_tap_per_side_use_the_whole_kernel(long height, long width, long stride)
    {
        using var conv = nn.Conv2d(4, 4, 3, stride: stride, padding: 1, bias: false);
        using var x = randn(2, 4, height, width);
        Assert.Null(PaddingOnlyTaps.Convolve(conv, x));
    }

    [Fact]
    public void Option_A_shortcut_subsamples_and_appends_zero_channels()
    {
        using var block = new ResidualBlock(16, 32, stride: 2, PaddingMode.Symmetric, BlockKind.Basic, ShortcutKind.ZeroPad);
        block.eval();
        using (no_grad()) nn.init.zeros_(block.LastNorm.weight); // the branch is now 0
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(2, 16, 8, 8);
        var y = block.forward(x);
        Assert.Equal(new long[] { 2, 32, 4, 4 }, y.shape);
        var subsampled = x[.., .., TensorIndex.Slice(null, null, 2), TensorIndex.Slice(null, null, 2)];
        Assert.True(y[.., ..16].allclose(nn.functional.relu(subsampled), atol: 0));
        Assert.Equal(0f, y[.., 16..].abs().max().item<float>());
        Assert.False(block.HasProjection);
    }

    [Fact]
    public void Plain_block_has_no_shortcut()
    {
        using var block = new ResidualBlock(16, 16, stride: 1, PaddingMode.Symmetric, BlockKind.Basic, ShortcutKind.None);
        block.eval();
        using (no_grad()) nn.init.zeros_(block.LastNorm.weight);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Assert.Equal(0f, block.forward(randn(2, 16, 8, 8)).abs().max().item<float>()); // relu(0 + nothing)
    }

    [Theory]
    [InlineData(new[] { 1 }, new[] { 16 })]
    [InlineData(new[] { 1, 1, 1, 1, 1 }, new[] { 16, 16, 32, 32, 64 })]
    public void Every_stage_count_that_validates_builds_and_runs(int[] blocks, int[] widths)
    {
        var config = new ResNetConfig { NumClasses = 3, Stem = StemKind.Small, BlocksPerStage = blocks, Widths = widths, Block = BlockKind.Bottleneck };
        config.Validate();
        using var model = new ResNetModel(config);
        model.eval();
        using var scope = NewDisposeScope();
        Assert.Equal(new long[] { 2, 3 }, model.forward(randn(2, 3, 32, 32)).shape);
        Assert.Equal(blocks.Length, model.StageOutputs(randn(1, 3, 32, 32)).Length);
    }

    [Fact]
    public void Zero_padding_shortcuts_refuse_narrowing_stages()
    {
        var config = ResNetConfig.ResNet20() with { Widths = [32, 16, 64] };
        Assert.Contains("option A", Assert.Throws<ArgumentException>(config.Validate).Message);
        Assert.Throws<ArgumentException>(() => new ResNetModel(config));
        Assert.Throws<ArgumentException>(() => ResNetConfig.Cifar(21));
    }

    [Theory]
    [InlineData(StemKind.ImageNet, 224, new long[] { 56, 28, 14, 7 })]
    [InlineData(StemKind.Small, 32, new long[] { 32, 16, 8, 4 })]
    public void Stage_outputs_halve_resolution_and_widen(StemKind stem, int size, long[] sides)
    {
        using var model = ResNetModel.ResNet18(10, stem);
        model.eval();
        using var scope = NewDisposeScope();
        var outputs = model.StageOutputs(randn(2, 3, size, size));
        long[] widths = [64, 128, 256, 512];
        for (int i = 0; i < 4; i++)
            Assert.Equal(new long[] { 2, widths[i], sides[i], sides[i] }, outputs[i].shape);
    }

    [Fact]
    public void Features_and_logits_come_from_one_consistent_pass()
    {
        using var model = ResNetModel.ResNet18(10);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(3, 3, 64, 64);
        var (features, logits) = model.FeaturesAndLogits(x);
        Assert.Equal(new long[] { 3, 512 }, features.shape);
        Assert.Equal(new long[] { 3, 10 }, logits.shape);
        Assert.True(logits.allclose(model.forward(x), atol: 1e-6));
        Assert.True(logits.allclose(model.Head.forward(features), atol: 1e-6));
    }

    [Fact]
    public void Block_with_zeroed_residual_branch_returns_relu_of_input()
    {
        using var block = new ResidualBlock(64, 64, stride: 1);
        block.eval();
        using (no_grad()) nn.init.zeros_(block.LastNorm.weight);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(2, 64, 8, 8);
        // bn2 gamma = 0 leaves only bn2's beta (0), so the block is relu(x + 0).
        Assert.True(block.forward(x).allclose(nn.functional.relu(x), atol: 0));
        Assert.False(block.HasProjection);
    }

    [Fact]
    public void Strided_or_widening_blocks_project_the_shortcut()
    {
        using var strided = new ResidualBlock(64, 128, stride: 2);
        using var same = new ResidualBlock(64, 64);
        Assert.True(strided.HasProjection);
        Assert.False(same.HasProjection);
        using var scope = NewDisposeScope();
        strided.eval();
        Assert.Equal(new long[] { 1, 128, 4, 4 }, strided.forward(randn(1, 64, 8, 8)).shape);
    }

    [Fact]
    public void Zero_init_residual_zeroes_every_last_norm()
    {
        using var model = new ResNetModel(ResNetConfig.ResNet18(10) with { ZeroInitResidual = true });
        Assert.All(model.Blocks, b => Assert.Equal(0f, b.LastNorm.weight.abs().max().item<float>()));
        Assert.Equal(8, model.Blocks.Count());
    }

    [Fact]
    public void Kaiming_init_gives_fan_out_variance()
    {
        using var model = ResNetModel.ResNet18(10);
        var w = model.state_dict()["layer3.0.conv2.weight"]; // 256 out × 3 × 3: fan_out = 2304
        double expected = Math.Sqrt(2.0 / (256 * 9));
        Assert.InRange(w.std().item<float>(), expected * 0.95, expected * 1.05);
        Assert.Equal(1f, model.state_dict()["bn1.weight"].mean().item<float>());
    }

    [Fact]
    public void Blocks_per_stage_and_same_upper_padding_are_configurable()
    {
        var config = ResNetConfig.ResNet18(10) with { BlocksPerStage = [2, 2, 2, 3], Padding = PaddingMode.SameUpper };
        using var model = new ResNetModel(config);
        model.eval();
        Assert.Contains("layer4.2.conv2.weight", model.state_dict().Keys);
        using var scope = NewDisposeScope();
        var outputs = model.StageOutputs(randn(1, 3, 224, 224));
        Assert.Equal(new long[] { 1, 512, 7, 7 }, outputs[3].shape);
    }

    [Fact]
    public void Replacing_the_head_keeps_the_backbone_and_freezing_stops_its_gradients()
    {
        using var model = ResNetModel.ResNet18(1000);
        var before = model.state_dict()["layer4.1.conv2.weight"].clone();
        model.ReplaceHead(7);
        Assert.Equal(new long[] { 7, 512 }, model.Head.weight.shape);
        Assert.Equal(7, model.Config.NumClasses);
        Assert.True(model.state_dict()["layer4.1.conv2.weight"].allclose(before, rtol: 0, atol: 0));
        model.FreezeBackbone();
        Assert.Equal(2, model.parameters().Count(p => p.requires_grad));
        model.FreezeBackbone(false);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Repeated_inference_does_not_leak_native_tensors()
    {
        using var model = ResNetModel.ResNet18(10, StemKind.Small);
        model.eval();
        using var x = randn(4, 3, 32, 32);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 5; i++)
        {
            using var noGrad = no_grad();
            var (features, logits) = model.FeaturesAndLogits(x);
            features.Dispose();
            logits.Dispose();
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Tracked_batch_norm_matches_TorchSharp_batch_norm_in_training_and_evaluation()
    {
        using var ours = new TrackedBatchNorm2d(8);
        using var theirs = nn.BatchNorm2d(8);
        Assert.Equal(theirs.state_dict().Keys.OrderBy(k => k), ours.state_dict().Keys.OrderBy(k => k));
        using var scope = NewDisposeScope();
        for (int step = 0; step < 3; step++)
        {
            var x = randn(4, 8, 5, 5) * 3 + 1;
            Assert.True(ours.forward(x).allclose(theirs.forward(x), rtol: 0, atol: 1e-6));
        }
        foreach (var key in new[] { "running_mean", "running_var", "num_batches_tracked" })
            Assert.True(ours.state_dict()[key].equal(theirs.state_dict()[key]).all().item<bool>(), key);
        Assert.Equal(3L, ours.state_dict()["num_batches_tracked"].item<long>());
        ours.eval(); theirs.eval();
        var y = randn(2, 8, 5, 5);
        Assert.True(ours.forward(y).allclose(theirs.forward(y), rtol: 0, atol: 1e-6));
        Assert.Equal(3L, ours.state_dict()["num_batches_tracked"].item<long>());
    }

    [Fact]
    public void Inference_chunks_cut_large_images_into_fours_and_give_the_whole_batchs_outputs()
    {
        using var model = ResNetModel.ResNet18(10);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var large = randn(9, 3, 224, 224);
        var chunks = ResNetModel.InferenceChunks(large);
        Assert.Equal(new long[] { 4, 4, 1 }, chunks.Select(c => c.shape[0]).ToArray());
        var whole = model.forward(large);
        var chunked = cat(chunks.Select(model.forward).ToList(), 0);
        Assert.True(chunked.allclose(whole, rtol: 1e-4, atol: 1e-4), $"largest difference {(chunked - whole).abs().max().item<float>()}");
        // 32² images: 196 per chunk, so a batch of 128 stays whole.
        Assert.Single(ResNetModel.InferenceChunks(randn(128, 3, 32, 32)));
    }
}
