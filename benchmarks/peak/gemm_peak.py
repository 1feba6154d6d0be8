#!/usr/bin/python3
"""This machine's measured GEMM peak on 2 threads, the ceiling the workloads' GFLOP/s are compared with.

  fp32: oneDNN's fp32 GEMM (torch._C._nn.mkldnn_linear; JIT kernels with AVX2/AVX-512 FMA as the CPU has), 1024x1024.
        Not torch.matmul: Debian's python3-torch is built with BLAS_INFO=generic, a reference BLAS far below the CPU.
  int8: FBGEMM's u8 x s8 -> int32 GEMM through torch.ops.quantized.linear (VPMADDUBSW on AVX2, VPDPBUSD with
        AVX512-VNNI), M=N=K=1024; one multiply-add counts as 2 operations, as for fp32.
Best of --rounds timings of --repeat products each (a peak: the best is the honest estimate of what the unit can do).
Prints "RESULT gemm_fp32 <GFLOP/s> GFLOP/s" and "RESULT gemm_int8 <GOP/s> GOP/s".
"""
import argparse, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--size", type=int, default=1024)
p.add_argument("--rounds", type=int, default=5)
p.add_argument("--repeat", type=int, default=10)
a = p.parse_args()
torch.set_num_threads(a.threads)
n = a.size
ops = 2.0 * n * n * n


def best(fn):
    fn()
    times = []
    for _ in range(a.rounds):
        start = time.perf_counter()
        for _ in range(a.repeat):
            fn()
        times.append((time.perf_counter() - start) / a.repeat)
    return ops / min(times) / 1e9


x = torch.randn(n, n)
w = torch.randn(n, n)
xm, wm = x.to_mkldnn(), w.to_mkldnn()
print(f"RESULT gemm_fp32 {best(lambda: torch._C._nn.mkldnn_linear(xm, wm, None)):.1f} GFLOP/s (onednn)", flush=True)

engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else torch.backends.quantized.supported_engines[-1]
torch.backends.quantized.engine = engine
qx = torch.quantize_per_tensor(x.abs(), 0.05, 0, torch.quint8)
qw = torch.quantize_per_tensor(w, 0.05, 0, torch.qint8)
packed = torch.ops.quantized.linear_prepack(qw, None)
print(f"RESULT gemm_int8 {best(lambda: torch.ops.quantized.linear(qx, packed, 1.0, 0)):.1f} GOP/s ({engine})", flush=True)
