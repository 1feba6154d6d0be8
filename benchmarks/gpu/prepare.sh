#!/usr/bin/env bash
# Here (no GPU needed): packs what benchmarks/gpu/device.sh runs on a GPU machine that has PyTorch with CUDA but no
# .NET: a framework-dependent publish of GpuBench without libtorch-cpu's native files (the device's PyTorch supplies
# libtorch with CUDA; TorchSharp 0.107 runs against it), and an xz tarball of this machine's .NET runtime.
# Writes benchmarks/gpu/out/ (git-ignored, about 40 MiB): carry that folder to the device.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/gpu/out
rm -rf "$out"
mkdir -p "$out"
dotnet publish benchmarks/gpu/GpuBench -c Release -r linux-x64 --self-contained false -o "$out/app" -v q -nologo >/dev/null
# libtorch-cpu's libraries would shadow the device's CUDA build; LibTorchSharp (the binding) stays. GpuBench makes no
# ONNX Runtime call, so ONNX Runtime's native files stay behind too (the carried tree must fit in 64 MiB).
find "$out/app" -maxdepth 1 \( -name '*.so*' ! -name 'libLibTorchSharp.so' -o -name 'onnxruntime*.dll' \) -delete
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
version=$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App /{v=$2} END{print v}')
tar -C "$root" -cJf "$out/dotnet.tar.xz" dotnet host "shared/Microsoft.NETCore.App/$version"
du -sh "$out"/* | sed 's/^/  /'
echo "ready: run benchmarks/gpu/device.sh on the GPU machine with benchmarks/gpu/out carried (see benchmarks/README.md)"
