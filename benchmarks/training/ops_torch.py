#!/usr/bin/python3
"""PyTorch side of `StepProfile -- --ops`: the training step's kernels outside oneDNN (BatchNorm, ReLU, the residual
add, the stem's max-pool), forward and backward, on the shapes ResNet18 gives them at 32² with batch 128 and the 7×7
stem, each timed alone on two threads and summed over the network's layers (ms per training step).

Usage: /usr/bin/python3 benchmarks/training/ops_torch.py [--rounds 5]
"""
import argparse, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=5)
a = p.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)
N = 128
# (channels, side, how many in the network): BatchNorms, ReLUs and residual adds of ResNet18 at 32² (7×7 stem).
BN = [(64, 16, 1), (64, 8, 4), (128, 4, 5), (256, 2, 5), (512, 1, 5)]
RELU = [(64, 16, 1), (64, 8, 4), (128, 4, 4), (256, 2, 4), (512, 1, 4)]
ADD = [(64, 8, 2), (128, 4, 2), (256, 2, 2), (512, 1, 2)]


def bn(c, s):
    x = torch.randn(N, c, s, s, requires_grad=True)
    w, b = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
    rm, rv = torch.zeros(c), torch.ones(c)
    g = torch.randn(N, c, s, s)
    return lambda: F.batch_norm(x, rm, rv, w, b, training=True).backward(g)


def relu(c, s):
    x = torch.randn(N, c, s, s, requires_grad=True)
    g = torch.randn(N, c, s, s)
    # In place on a fresh non-leaf, as the network's ReLU(inplace=True) runs on a BatchNorm's output.
    return lambda: F.relu(x * 1, inplace=True).backward(g)


def add(c, s):
    x, y = torch.randn(N, c, s, s, requires_grad=True), torch.randn(N, c, s, s, requires_grad=True)
    g = torch.randn(N, c, s, s)
    return lambda: (x * 1).add_(y).backward(g)


def maxpool():
    x = torch.randn(N, 64, 16, 16, requires_grad=True)
    g = torch.randn(N, 64, 8, 8)
    return lambda: F.max_pool2d(x, 3, 2, 1).backward(g)


def copy_only(c, s):
    # The `x * 1` that relu and add pay for their fresh input: timed to be taken out of theirs.
    x = torch.randn(N, c, s, s, requires_grad=True)
    g = torch.randn(N, c, s, s)
    return lambda: (x * 1).backward(g)


def ms(fn, reps=20):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) * 1000 / reps


for r in range(a.rounds):
    base = {(c, s): ms(copy_only(c, s)) for c, s, _ in RELU + ADD}
    out = {
        "batchnorm": sum(k * ms(bn(c, s)) for c, s, k in BN),
        "relu": sum(k * (ms(relu(c, s)) - base[(c, s)]) for c, s, k in RELU),
        "add": sum(k * (ms(add(c, s)) - base[(c, s)]) for c, s, k in ADD),
        "maxpool": ms(maxpool()),
    }
    out["total"] = sum(out.values())
    print(f"round {r + 1} (ms per step, forward + backward): " + ", ".join(f"{k} {v:.1f}" for k, v in out.items()), flush=True)
