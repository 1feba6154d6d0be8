#!/usr/bin/env bash
# ONNX Runtime vs TorchSharp on the CPU, end to end through `resnet featurize`: the same Imagenette validation
# images (decode + ML.NET resize 256 + crop 224 + forward, batch 32) through a seeded torchvision ResNet18
# (1000 classes), as weights and as two ONNX exports. Writes benchmarks/onnx/results.md.
# Usage: benchmarks/onnx/run.sh [images-per-class, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
per_class=${1:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source_images=../shared/datasets/imagenette-small/val
# The first N images of each class, so a run takes a minute even on a busy 2-core machine.
for d in "$source_images"/*/; do
  mkdir -p "$work/images/$(basename "$d")"
  find "$d" -type f | sort | head -n "$per_class" | xargs -I{} ln -s "$(realpath {})" "$work/images/$(basename "$d")/"
done
one=$(find "$work/images" -type l | sort | head -n 1)
n=$(find "$work/images" -type l | wc -l)
dotnet build ResNet.Cli -c Release -v q -nologo >/dev/null
resnet=(dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll)

# Seeded torchvision ResNet18: the architecture is what costs time, not the weights' values.
/usr/bin/python3 -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), '$work/r18.pt')"
"${resnet[@]}" export --weights "$work/r18.pt" --output "$work/r18.onnx" >/dev/null
"${resnet[@]}" export --weights "$work/r18.pt" --output "$work/r18-pre.onnx" --with-preprocessing >/dev/null

seconds() { # wall seconds of one featurize run over $1 (images) with engine option $2 $3
  local start end
  start=$(date +%s.%N)
  "${resnet[@]}" featurize --images "$1" --batch-size 32 --device cpu --output "$work/out.csv" "$2" "$3" 2>/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
rows=("TorchSharp 0.107|--weights r18.pt" "ONNX Runtime 1.31|--onnx r18.onnx" "ONNX Runtime 1.31, preprocessing in the graph|--onnx r18-pre.onnx")
declare -A best single
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Engines take turns (round robin), so a change in machine load hits them alike.
for _ in 1 2; do
  for row in "${rows[@]}"; do
    opt=${row#*|}; flag=${opt%% *}; file=${opt#* }
    s=$(seconds "$work/images" "$flag" "$work/$file")
    best[$row]=$(echo "if ($s < ${best[$row]:-999999}) $s else ${best[$row]:-999999}" | bc)
  done
done
for row in "${rows[@]}"; do
  opt=${row#*|}; flag=${opt%% *}; file=${opt#* }
  single[$row]=$(seconds "$one" "$flag" "$work/$file")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# ONNX Runtime vs TorchSharp (CPU)"
  echo
  echo "\`benchmarks/onnx/run.sh $per_class\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u '+%F %H:%M') UTC:"
  echo "\`resnet featurize --images DIR --batch-size 32 --device cpu\` (Release build) over $n Imagenette validation images"
  echo "($per_class per class), seeded torchvision ResNet18 (1000 classes). Wall time of the whole process: start, model"
  echo "load, image decoding (the same work in every row) and inference; best of 2 runs, the engines taking turns."
  echo "\"1 image\" is one run over a single image: roughly the fixed cost (start and model load)."
  echo "Load average before/after: $load_before / $load_after (other work shared the machine)."
  echo
  echo "| engine | option | $n images, s | images/s | 1 image, s |"
  echo "| --- | --- | --- | --- | --- |"
  for row in "${rows[@]}"; do
    name=${row%%|*}; opt=${row#*|}
    printf '| %s | `%s` | %.1f | %.1f | %.1f |\n' "$name" "$opt" "${best[$row]}" "$(echo "$n / ${best[$row]}" | bc -l)" "${single[$row]}"
  done
} | tee benchmarks/onnx/results.md
