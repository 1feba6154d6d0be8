#!/usr/bin/env bash
# On the GPU machine (PyTorch with CUDA, no .NET), after benchmarks/gpu/prepare.sh here; run from the repository root
# with benchmarks/gpu/out carried. Measures ResNet18 at 3x224^2, batch 128, fp32: PyTorch's training and inference,
# then TorchSharp's (our model) on the same device against the device's libtorch, one after the other. Writes
# $OUT/gpu.log (or ./gpu.log) with the RESULT lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
log="${OUT:-.}/gpu.log"
mkdir -p /tmp/dotnet && tar -xJf benchmarks/gpu/out/dotnet.tar.xz -C /tmp/dotnet
export DOTNET_ROOT=/tmp/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1
py=$(command -v python3)
torchlib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$py" -c 'import torch; print("pytorch", torch.__version__, "cuda", torch.version.cuda)'
  "$py" benchmarks/gpu/torch_bench.py --device cuda --batch-size 128
  /tmp/dotnet/dotnet benchmarks/gpu/out/app/GpuBench.dll --device cuda --batch-size 128
} 2>&1 | tee "$log"
