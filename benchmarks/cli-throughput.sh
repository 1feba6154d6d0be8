#!/usr/bin/env bash
# Throughput of `resnet featurize` / `resnet predict` at ImageNet size (resize 256, crop 224) on the Imagenette
# validation images (500 JPEGs), CPU. Weights: a seeded torchvision resnet18 state dict written by PyTorch
# (1000 classes; the numbers do not depend on the weights' values).
# Usage: benchmarks/cli-throughput.sh [batch-size]   — prints the CLI's own closing line (images, seconds, img/s).
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), '$work/r18.pth')"
dotnet build ResNet.Cli -c Release -v q -nologo >/dev/null
images=${RESNET_SHARED:-../shared}/datasets/imagenette-small/val
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for verb in featurize predict; do
  dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll $verb --weights "$work/r18.pth" \
    --images "$images" --output "$work/$verb.csv" --batch-size "$batch" --device cpu 2>&1 | tail -1
done
