#!/usr/bin/env bash
# Training throughput and peak memory of `resnet train` (TorchSharp) beside PyTorch (Debian's python3-torch) running
# the same network and recipe, on this machine, two threads each. Results: benchmarks/RESULTS-training.md.
#   benchmarks/training/train_bench.sh [fashion32|imagenette224|full] ...
# fashion32:     the main job's data at 32² (7×7 stem), 1 epoch on 2,000 of its 10,000 training images (20 %, stratified).
# imagenette224: 200 of imagenette-small/train's 500 JPEGs (224² random-resized crops), 1 epoch, batch 32.
# full:          all 60,000 Fashion-MNIST training images, EPOCHS (default 8) epochs, then the 10,000 test images.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build ResNet.Cli -c Release -v q -nologo >/dev/null
resnet=(dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll)
py=/usr/bin/python3
out=${OUT:-/tmp/resnet-train-bench}
rm -rf "$out"; mkdir -p "$out"
imagenette=${IMAGENETTE:-../shared/datasets/imagenette-small}
epochs=${EPOCHS:-8}
[ $# -gt 0 ] || set -- fashion32 imagenette224
for what in "$@"; do
  case $what in
    fashion32)
      echo "== fashion32: TorchSharp"; "${resnet[@]}" train --data fashion-mnist:data/fashion-mnist-small --epochs 1 --val-split 0.8 --threads 2 --output "$out/f32" | grep -E "epoch 1/1 |test accuracy|peak RSS"
      echo "== fashion32: PyTorch"; $py benchmarks/training/train_bench_torch.py fashion data/fashion-mnist-small --epochs 1 --val 0.8 ;;
    imagenette224)
      echo "== imagenette224: TorchSharp"; "${resnet[@]}" train --data "$imagenette" --epochs 1 --batch-size 32 --val-split 0.6 --threads 2 --output "$out/i224" | grep -E "epoch 1/1 |peak RSS"
      echo "== imagenette224: PyTorch"; $py benchmarks/training/train_bench_torch.py imagenette "$imagenette" --epochs 1 --limit 200 ;;
    full)
      echo "== full Fashion-MNIST, $epochs epochs: TorchSharp"; /usr/bin/time -f "wall %e s" "${resnet[@]}" train --data fashion-mnist --epochs "$epochs" --val-split 0.05 --threads 2 --output "$out/full" | grep -E "^epoch [0-9]+/[0-9]+ |test accuracy|peak RSS"
      echo "== full Fashion-MNIST, $epochs epochs: PyTorch"; $py benchmarks/training/train_bench_torch.py fashion /usr/share/datasets/fashion-mnist --epochs "$epochs" ;;
    *) echo "unknown benchmark $what" >&2; exit 2 ;;
  esac
done
