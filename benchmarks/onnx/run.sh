#!/usr/bin/env bash
# ONNX Runtime vs TorchSharp, CPU, end to end through the `resnet featurize` verb: the same 500 Imagenette
# validation images (decode + ML.NET resize 256 + crop 224 + forward, batch 32), ResNet18 with 1000 classes.
# Writes benchmarks/onnx/results.md. Usage: benchmarks/onnx/run.sh [threads-note]
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=${IMAGES:-../shared/datasets/imagenette-small/val}
dotnet build ResNet.Training -c Release -v q -nologo >/dev/null
resnet=(dotnet ResNet.Training/bin/Release/net10.0/ResNet.Training.dll)

# Seeded torchvision ResNet18 (the architecture is what costs time, not the weights' values).
/usr/bin/python3 -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.resnet18().state_dict(), '$work/r18.pt')"
"${resnet[@]}" export --weights "$work/r18.pt" --output "$work/r18.onnx" >/dev/null
"${resnet[@]}" export --weights "$work/r18.pt" --output "$work/r18-pre.onnx" --with-preprocessing >/dev/null

time_run() { # prints seconds
  local start end
  start=$(date +%s.%N)
  "${resnet[@]}" featurize "$@" --images "$images" --batch-size 32 --device cpu --output "$work/out.csv" 2>/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
n=$(find "$images" -type f | wc -l)
{
  echo "# ONNX Runtime vs TorchSharp (CPU)"
  echo
  echo "\`benchmarks/onnx/run.sh\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%F):"
  echo "\`resnet featurize --images $images --batch-size 32 --device cpu\` over $n images, wall time including"
  echo "process start, model load and image decoding (identical in every row). Best of 2 runs."
  echo
  echo "| engine | option | seconds | images/s |"
  echo "| --- | --- | --- | --- |"
  for row in "TorchSharp 0.107|--weights r18.pt" "ONNX Runtime 1.31|--onnx r18.onnx" "ONNX Runtime 1.31, preprocessing in the graph|--onnx r18-pre.onnx"; do
    name=${row%%|*}; opt=${row#*|}; flag=${opt%% *}; file=${opt#* }
    best=999999
    for _ in 1 2; do
      s=$(time_run "$flag" "$work/$file")
      best=$(echo "if ($s < $best) $s else $best" | bc)
    done
    printf '| %s | `%s` | %.1f | %.1f |\n' "$name" "$opt" "$best" "$(echo "$n / $best" | bc -l)"
  done
} | tee benchmarks/onnx/results.md
