#!/usr/bin/python3
"""PyTorch reference for benchmarks/training: the same network and recipe as `resnet train`, on this machine.

  fashion:    torchvision resnet18 (7x7 stem), Fashion-MNIST IDX files upscaled 28->32 (bilinear), pad-4 random crop +
              horizontal flip, SGD (momentum 0.9, Nesterov, weight decay 5e-4) + OneCycleLR, label smoothing 0.1, batch 128;
              reports training img/s, test accuracy, wall time and peak RSS.
  imagenette: the same at 224x224 on an image folder: RandomResizedCrop(224) + flip, 2 loader workers, batch 32.

  --channels-last: the model and its batches in torch.channels_last, PyTorch's own opt-in to the layout our model uses
              on the CPU (docs/training.md, "Speed"); without it PyTorch runs NCHW, as a script that does not ask does.

Usage: /usr/bin/python3 train_bench_torch.py fashion DIR [--epochs N] [--val 0.05] [--profile] [--channels-last]
       /usr/bin/python3 train_bench_torch.py imagenette DIR [--epochs N] [--channels-last]
"""
import argparse, gzip, os, resource, struct, time
import numpy as np
import torch, torchvision
import torch.nn.functional as F
from torchvision import transforms as T

p = argparse.ArgumentParser()
p.add_argument("kind", choices=["fashion", "imagenette"])
p.add_argument("data")
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--batch-size", type=int, default=None)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--val", type=float, default=0.05)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--limit", type=int, default=None, help="imagenette: train on this many images (seeded sample)")
p.add_argument("--channels-last", action="store_true", help="model and batches in torch.channels_last")
p.add_argument("--profile", action="store_true", help="also print each epoch's ms per image in forward+loss, backward and the optimizer step")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


def idx(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, kids / 1024


start = time.time()
if a.kind == "fashion":
    bs = a.batch_size or 128
    def load(split):
        x = torch.from_numpy(idx(os.path.join(a.data, f"{split}-images-idx3-ubyte.gz")).copy()).float().unsqueeze(1)
        y = torch.from_numpy(idx(os.path.join(a.data, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64))
        x = F.interpolate(x, size=32, mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255)
        return ((x / 255 - 0.2860) / 0.3530).expand(-1, 3, -1, -1).contiguous(), y
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    g = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(len(ytr), generator=g)
    nval = int(round(len(ytr) * a.val))
    xtr, ytr = xtr[perm[nval:]], ytr[perm[nval:]]
    def batches(epoch):
        order = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(a.seed * 1000 + epoch))
        for i in range(0, len(order), bs):
            idxs = order[i:i + bs]
            x = F.pad(xtr[idxs], (4, 4, 4, 4), value=float((0 - 0.2860) / 0.3530))
            dx, dy = torch.randint(0, 9, (2,))
            x = x[:, :, dy:dy + 32, dx:dx + 32]
            flip = torch.rand(len(idxs)) < 0.5
            x[flip] = x[flip].flip(3)
            yield x, ytr[idxs]
    steps = (len(ytr) + bs - 1) // bs
else:
    bs = a.batch_size or 32
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    ds = torchvision.datasets.ImageFolder(os.path.join(a.data, "train"),
                                          T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    if a.limit:
        ds = torch.utils.data.Subset(ds, torch.randperm(len(ds), generator=torch.Generator().manual_seed(a.seed))[:a.limit].tolist())
    loader = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, num_workers=2, drop_last=False)
    def batches(epoch):
        yield from loader
    steps = len(loader)

classes = 10
model = torchvision.models.resnet18(num_classes=classes)
if a.channels_last:
    model = model.to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps * a.epochs)
train_time, images = 0.0, 0
for epoch in range(a.epochs):
    model.train()
    t0 = time.time()
    seen = 0
    phases = [0.0, 0.0, 0.0]
    for x, y in batches(epoch):
        if a.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        t = [time.perf_counter()]
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        if a.profile:
            loss.item()
            t.append(time.perf_counter())
        opt.zero_grad()
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        sched.step()
        seen += len(y)
        if a.profile:
            for i in range(3):
                phases[i] += t[i + 1] - t[i]
    dt = time.time() - t0
    train_time += dt
    images += seen
    print(f"epoch {epoch + 1}/{a.epochs}: loss {loss.item():.4f} {seen / dt:.1f} img/s ({dt:.1f} s)", flush=True)
    if a.profile:
        print("  ms per image: forward+loss %.3f, backward %.3f, optimizer step %.3f, total %.3f"
              % tuple(1000 * v / seen for v in phases + [dt]), flush=True)
if a.kind == "fashion":
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item() for i in range(0, len(yte), 500))
    print(f"test accuracy: {correct / len(yte):.4f} ({len(yte)} images)")
own, kids = peak_rss_mib()
print(f"training img/s: {images / train_time:.1f}; wall time {time.time() - start:.1f} s; peak RSS {own:.0f} MiB (loader workers {kids:.0f} MiB)")
