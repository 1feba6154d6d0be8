#!/usr/bin/env bash
# 32² training, ours and PyTorch 1.13 at the same time, one thread each on a core of its own (cores swapped every
# round), so that this VM's drift, which moves its speed by up to 20 % within minutes, hits both alike: a ratio that
# sequential runs cannot resolve below about 10 %. Both run the suite's train32 commands with one thread (ours also with
# one loader worker, on the same core) and report epoch 2 of 2. Needs 2 cores. With --step, the training step alone
# instead of the programs: StepProfile against train_bench_torch.py --profile, three epochs, epochs 2 and 3 each a ratio.
#   benchmarks/training/simultaneous.sh [ROUNDS] [--step]    (default 4; about 45 s a round, 20 s with --step)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-4}
step=$([ "${2:-}" = --step ] && echo 1 || echo 0)
dotnet build ResNet.Cli -c Release -v q -nologo >/dev/null
dotnet build benchmarks/training/StepProfile -c Release -v q -nologo >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ratios=()
# run_pair OURS_CORE TORCH_CORE "OURS ARGS" "TORCH ARGS": both at once, pinned, output in $out/ours.txt and $out/torch.txt.
run_pair() {
  taskset -c "$1" dotnet $3 > "$out/ours.txt" 2>&1 &
  local ours_pid=$!
  taskset -c "$2" /usr/bin/python3 benchmarks/training/train_bench_torch.py fashion data/fashion-mnist-small $4 > "$out/torch.txt" 2>&1 &
  wait "$ours_pid" $!
}
# add_ratio OURS_IMG_S TORCH_IMG_S: sets $ratio to ours/PyTorch and appends it to the ratios.
add_ratio() {
  ratio=$(python3 -c "print(f'{$1 / $2:.3f}')")
  ratios+=("$ratio")
}
for ((r = 1; r <= rounds; r++)); do
  ours_core=$(( (r + 1) % 2 )); torch_core=$(( r % 2 ))
  if [ "$step" = 1 ]; then
    run_pair "$ours_core" "$torch_core" "benchmarks/training/StepProfile/bin/Release/net10.0/StepProfile.dll --epochs 3 --threads 1" \
      "--epochs 3 --val 0.8 --profile --threads 1"
    for e in 2 3; do
      ours=$(grep -oE "^epoch $e: [0-9.]+ img/s" "$out/ours.txt" | grep -oE "[0-9.]+ img/s" | cut -d' ' -f1)
      torch=$(grep -oE "epoch $e/3: loss \S+ [0-9.]+ img/s" "$out/torch.txt" | grep -oE "[0-9.]+ img/s" | cut -d' ' -f1)
      add_ratio "$ours" "$torch"
      echo "round $r, epoch $e: ours' step (core $ours_core) $ours img/s, PyTorch's (core $torch_core) $torch img/s, ratio $ratio"
    done
  else
    run_pair "$ours_core" "$torch_core" "ResNet.Cli/bin/Release/net10.0/resnet.dll train --data fashion-mnist:data/fashion-mnist-small \
      --epochs 2 --val-split 0.5 --threads 1 --workers 1 --output $out/run$r" "--epochs 2 --val 0.5 --threads 1"
    ours=$(grep -E "^epoch 2/2  train" "$out/ours.txt" | grep -oE "[0-9.]+ img/s" | cut -d' ' -f1)
    torch=$(grep -oE "epoch 2/2: loss \S+ [0-9.]+ img/s" "$out/torch.txt" | grep -oE "[0-9.]+ img/s" | cut -d' ' -f1)
    add_ratio "$ours" "$torch"
    echo "round $r: ours (core $ours_core) $ours img/s, PyTorch (core $torch_core) $torch img/s, ratio $ratio"
  fi
done
label=$([ "$step" = 1 ] && echo "ours/PyTorch (the step alone)" || echo "ours/PyTorch")
python3 -c "import statistics, sys; v = sorted(map(float, sys.argv[2:])); print(f'{sys.argv[1]}, one thread each, at the same time: median {statistics.median(v):.3f} ({v[0]:.3f}-{v[-1]:.3f}, {len(v)} ratios)')" "$label" "${ratios[@]}"
