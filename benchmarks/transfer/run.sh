#!/usr/bin/env bash
# Transfer learning from ML.NET's ImageNet ResNet18 (mlnet-imagenet) on CIFAR-10-small (5,000 train / 1,000 test).
# Row 1: linear probe (frozen 512-d features + LbfgsMaximumEntropy). Rows 2-3: fine-tuned vs from scratch, each under
# the same wall-time limit (`timeout`); a row the limit cuts short has no test accuracy and says so.
# Writes $OUT/results.csv (row,test_accuracy,wall_seconds,command), the file benchmarks/transfer/results.csv holds.
# Usage: benchmarks/transfer/run.sh [DATA] [MINUTES]   (default ../shared/datasets/cifar10-small, 30)
#   SKIP_TRAINING=1   the linear probe only;   FREEZE=layer3|layer4|backbone   another fine-tuning split (default layer2)
#   FINETUNE_EPOCHS, SCRATCH_EPOCHS   epochs that fit the limit on the machine at hand (defaults fit a 2-core AMD EPYC)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/datasets/cifar10-small}
MINUTES=${2:-30}
OUT=${OUT:-/tmp/resnet-transfer}
FREEZE=${FREEZE:-layer2}
mkdir -p "$OUT"
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$OUT/cpu.txt"
echo "load average: $(cat /proc/loadavg)" | tee -a "$OUT/cpu.txt"
echo "row,test_accuracy,wall_seconds,command" > "$OUT/results.csv"

# row NAME LOG COMMAND...: runs the command under the time limit, logs it, and appends its row to results.csv.
row() {
  local name=$1 log=$2; shift 2
  local start end accuracy
  start=$(date +%s.%N)
  timeout "$((MINUTES * 60))" "$@" 2>&1 | tee "$log" || true
  end=$(date +%s.%N)
  accuracy=$(tr '\r' '\n' < "$log" | grep -oP '(^test accuracy: |linear probe test accuracy )\K[0-9.]+' | tail -1 || true)
  printf '%s,%s,%.0f,%s\n' "$name" "${accuracy:-none (cut by the time limit)}" "$(echo "$end - $start" | bc)" "${*/#$PWD\//}" >> "$OUT/results.csv"
}

dotnet build benchmarks/transfer/LinearProbe -c Release -v q -nologo
dotnet build ResNet.Cli -c Release -v q -nologo
echo "== linear probe"
row "linear probe" "$OUT/linear-probe.txt" dotnet benchmarks/transfer/LinearProbe/bin/Release/net10.0/LinearProbe.dll "$DATA" --features-cache "$OUT/features"
if [ "${SKIP_TRAINING:-0}" = 1 ]; then cat "$OUT/results.csv"; exit 0; fi

echo "== fine-tuned from mlnet-imagenet, --freeze $FREEZE (${MINUTES} min limit)"
rm -rf "$OUT/finetune-$FREEZE"
row "fine-tuned" "$OUT/finetune-$FREEZE.txt" dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll train --data "$DATA" \
  --weights mlnet-imagenet --freeze "$FREEZE" --epochs "${FINETUNE_EPOCHS:-10}" --batch-size 64 --lr 0.01 --val-split 0 \
  --output "$OUT/finetune-$FREEZE"
echo "== from scratch, small stem at 32² (${MINUTES} min limit)"
rm -rf "$OUT/scratch"
row "from scratch" "$OUT/scratch.txt" dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll train --data "$DATA" \
  --stem small --image-size 32 --epochs "${SCRATCH_EPOCHS:-9}" --val-split 0 --output "$OUT/scratch"
cat "$OUT/results.csv"
