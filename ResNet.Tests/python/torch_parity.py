"""PyTorch side of the weight-exchange tests (ResNet.Tests/WeightsTests.cs).

  export OUT NUM_CLASSES SEED [--no-batch-counters] [--arch resnet34|resnet50]
                                writes OUT/ARCH.pth (torchvision resnet18 or ARCH, seeded random weights and
                                BatchNorm statistics; without the num_batches_tracked entries, as in
                                torchvision's original ImageNet files, when asked), OUT/input.f32 (2x3x224x224)
                                and PyTorch's OUT/logits.f32 and OUT/features.f32 for that input.
  run WEIGHTS INPUT NUM_CLASSES OUT
                                loads WEIGHTS strictly into torchvision's resnet18 and writes
                                OUT/logits.f32 and OUT/features.f32 for INPUT (N x 3 x 224 x 224 float32).
All arrays are raw little-endian float32.
"""
import os
import sys

import torch
import torchvision


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        backbone = torch.nn.Sequential(*list(model.children())[:-1])  # everything up to and including avgpool
        features = backbone(x).flatten(1)
    return logits, features


def write(tensor, path):
    tensor.detach().to(torch.float32).contiguous().numpy().tofile(path)


def export(out, num_classes, seed, drop_counters, arch):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=num_classes)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                # Non-trivial statistics, so that a BatchNorm loaded wrongly shows in the outputs.
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(seed)
    state = model.state_dict()
    if drop_counters:
        state = type(state)((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    torch.save(state, os.path.join(out, arch + ".pth"))
    x = torch.randn(2, 3, 224, 224)
    write(x, os.path.join(out, "input.f32"))
    logits, features = outputs(model, x)
    write(logits, os.path.join(out, "logits.f32"))
    write(features, os.path.join(out, "features.f32"))


def run(weights, input_path, num_classes, out):
    model = torchvision.models.resnet18(num_classes=num_classes)
    state = torch.load(weights, map_location="cpu")
    model.load_state_dict(state, strict=True)
    x = torch.from_numpy(__import__("numpy").fromfile(input_path, dtype="<f4")).reshape(-1, 3, 224, 224)
    logits, features = outputs(model, x)
    write(logits, os.path.join(out, "logits.f32"))
    write(features, os.path.join(out, "features.f32"))


if __name__ == "__main__":
    if sys.argv[1] == "export":
        options = sys.argv[5:]
        arch = options[options.index("--arch") + 1] if "--arch" in options else "resnet18"
        export(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), "--no-batch-counters" in options, arch)
    elif sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
