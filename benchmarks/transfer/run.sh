#!/usr/bin/env bash
# Transfer learning from ML.NET's ImageNet ResNet18 (mlnet-imagenet) on CIFAR-10-small (5,000 train / 1,000 test).
# Row 1: linear probe (frozen 512-d features + LbfgsMaximumEntropy). Rows 2-3: fine-tune vs from scratch, same wall time.
# Usage: benchmarks/transfer/run.sh [DATA] [MINUTES]   (default ../shared/datasets/cifar10-small, 30)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/datasets/cifar10-small}
MINUTES=${2:-30}
OUT=${OUT:-/tmp/resnet-transfer}
mkdir -p "$OUT"
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$OUT/cpu.txt"
echo "load average: $(cat /proc/loadavg)" | tee -a "$OUT/cpu.txt"

echo "== linear probe"
dotnet run --project benchmarks/transfer/LinearProbe -c Release -- "$DATA" --features-cache "$OUT/features" | tee "$OUT/linear-probe.txt"

if [ "${SKIP_TRAINING:-0}" = 1 ]; then exit 0; fi
dotnet build ResNet.Cli -c Release -v q
FREEZE=${FREEZE:-backbone}
echo "== fine-tune from mlnet-imagenet (--freeze $FREEZE: cached frozen activations; ${MINUTES} min budget)"
/usr/bin/time -v timeout "$((MINUTES * 60))" dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll train --data "$DATA" \
  --weights mlnet-imagenet --freeze "$FREEZE" --epochs 30 --batch-size 64 --optimizer adamw --lr 1e-3 --output "$OUT/finetune-$FREEZE" 2>&1 | tee "$OUT/finetune-$FREEZE.txt" || true
echo "== from scratch, same wall time"
/usr/bin/time -v timeout "$((MINUTES * 60))" dotnet ResNet.Cli/bin/Release/net10.0/resnet.dll train --data "$DATA" \
  --stem small --image-size 32 --epochs 30 --output "$OUT/scratch" 2>&1 | tee "$OUT/scratch.txt" || true
