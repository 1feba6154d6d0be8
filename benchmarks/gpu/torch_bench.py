#!/usr/bin/env python3
"""PyTorch's side of benchmarks/gpu: ResNet18 (torchvision's layout, defined here so torchvision is not needed) at
3x224^2, fp32, synthetic data, the same loops as GpuBench: SGD training steps and eval inference under no_grad.

Usage: python3 torch_bench.py [--device cuda|cpu] [--batch-size 128] [--steps 30] [--warmup 5]
Prints "RESULT pytorch_train_<device> <img/s> img/s" and "RESULT pytorch_infer_<device> <img/s> img/s".
"""
import argparse, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=5)
a = p.parse_args()


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, layers, cin = [64, 128, 256, 512], [], 64
        for i, w in enumerate(widths):
            layers.append(nn.Sequential(Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)))
            cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1))


if a.device == "cuda" and not torch.cuda.is_available():
    print("RESULT-UNAVAILABLE pytorch cuda: torch.cuda.is_available() is False")
    raise SystemExit(1)
torch.manual_seed(1)
model = ResNet18().to(a.device)
x = torch.randn(a.batch_size, 3, 224, 224, device=a.device)
y = torch.randint(0, 1000, (a.batch_size,), device=a.device)
print(f"device {a.device} ({torch.cuda.get_device_name() if a.device == 'cuda' else 'cpu'}), torch {torch.__version__}, "
      f"batch {a.batch_size}, {a.steps} timed steps after {a.warmup}", flush=True)

opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
model.train()


def train(n):
    start = time.perf_counter()
    for i in range(n):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss.item()  # synchronises
    return time.perf_counter() - start


train(a.warmup)
print(f"RESULT pytorch_train_{a.device} {a.steps * a.batch_size / train(a.steps):.1f} img/s", flush=True)

model.eval()
with torch.no_grad():
    def infer(n):
        start = time.perf_counter()
        for i in range(n):
            out = model(x)
        out.sum().item()
        return time.perf_counter() - start
    infer(a.warmup)
    print(f"RESULT pytorch_infer_{a.device} {a.steps * a.batch_size / infer(a.steps):.1f} img/s", flush=True)
