#!/usr/bin/python3
"""PyTorch reference for the featurizer benchmarks: torchvision resnet18 (seeded, eval mode) on 2 threads.

  pipeline: JPEG -> PIL decode -> Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize -> batches of 32 -> 512-d
            features (fc replaced by Identity); what a Python user would write. Prints img/s.
  network:  the network alone on ready batches (random normalised input).
Each run prints "RESULT <name> <value> <unit>" for benchmarks/suite.py.

Usage: /usr/bin/python3 torch_featurize.py pipeline IMAGE_DIR [--count N] [--rounds R]
       /usr/bin/python3 torch_featurize.py network [--batch-size B] [--rounds R]
"""
import argparse, glob, os, time
import torch, torchvision
from PIL import Image
from torchvision import transforms as T

p = argparse.ArgumentParser()
p.add_argument("mode", choices=["pipeline", "network"])
p.add_argument("images", nargs="?")
p.add_argument("--count", type=int, default=500)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--rounds", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = torchvision.models.resnet18()
model.fc = torch.nn.Identity()
model.eval()

if a.mode == "network":
    x = torch.randn(a.batch_size, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(3):
            model(x)  # warm-up: the first calls of a process run slower (as ours do)
        for _ in range(a.rounds):
            batches = max(1, 256 // a.batch_size)
            start = time.perf_counter()
            for _ in range(batches):
                model(x)
            print(f"RESULT network_pytorch_batch{a.batch_size} {batches * a.batch_size / (time.perf_counter() - start):.3f} img/s", flush=True)
else:
    files = sorted(f for f in glob.glob(os.path.join(a.images, "**", "*"), recursive=True) if f.lower().endswith((".jpg", ".jpeg")))[: a.count]
    prep = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with torch.inference_mode():
        for _ in range(a.rounds):
            start = time.perf_counter()
            for i in range(0, len(files), a.batch_size):
                batch = torch.stack([prep(Image.open(f).convert("RGB")) for f in files[i:i + a.batch_size]])
                model(batch)
            print(f"RESULT featurizer_pytorch_pil {len(files) / (time.perf_counter() - start):.3f} img/s", flush=True)
