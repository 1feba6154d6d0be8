#!/usr/bin/env bash
# The main job's time/accuracy frontier: trains the main job's data (data/fashion-mnist-small, 10,000 training and
# 2,000 test images, 5 % held out for validation, seed 1) under several recipes and records, for each, the test
# accuracy and the wall time of `resnet train` (start, training, validation, test), plus once the Release build of a
# fresh clone. Writes benchmarks/main-job-frontier.md. Takes about (sum of the recipes' times): run it on a quiet machine.
#   benchmarks/main-job-frontier.sh [RECIPE ...]     a recipe is "epochs:image-size:batch:schedule", e.g. 8:28:128:onecycle
# Without arguments it runs the list below, cheapest first. The main job's recipe today is 12:32:128:onecycle.
set -euo pipefail
cd "$(dirname "$0")/.."
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(6:28:128:onecycle 8:28:128:onecycle 6:32:128:onecycle 8:32:128:onecycle 8:32:256:onecycle 10:32:128:onecycle 8:32:128:cosine 12:32:128:onecycle)
out=${OUT:-/tmp/resnet-frontier}
rm -rf "$out"; mkdir -p "$out"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Build time as a new user sees it: a fresh clone of HEAD, Release build of the program (packages from the local cache).
git clone -q . "$out/clone"
start=$(date +%s.%N)
dotnet build "$out/clone/ResNet.Cli" -c Release -v q -nologo >/dev/null
build=$(echo "$(date +%s.%N) - $start" | bc)
resnet=(dotnet "$out/clone/ResNet.Cli/bin/Release/net10.0/resnet.dll")

rows=()
for r in "${recipes[@]}"; do
  IFS=: read -r epochs size batch schedule <<<"$r"
  echo "== $r"
  log="$out/$epochs-$size-$batch-$schedule.log"
  start=$(date +%s.%N)
  "${resnet[@]}" train --data fashion-mnist:data/fashion-mnist-small --val-split 0.05 --stem imagenet --image-size "$size" \
    --epochs "$epochs" --batch-size "$batch" --schedule "$schedule" --threads 2 --seed 1 --output "$out/run-$epochs-$size-$batch-$schedule" >"$log" 2>&1
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  acc=$(grep -oP 'test accuracy: \K[0-9.]+' "$log")
  ips=$(grep -oP '^epoch [0-9]+/[0-9]+ .* \K[0-9.]+(?= img/s)' "$log" | tail -1)
  printf '   test accuracy %s, %.0f s, last epoch %s img/s\n' "$acc" "$wall" "$ips"
  rows+=("| $epochs | $size | $batch | $schedule | $acc | $(printf '%.0f' "$wall") | $(printf '%.0f' "$(echo "$wall + $build" | bc)") | $ips |")
done
{
  echo "# The main job's time/accuracy frontier"
  echo
  echo "\`benchmarks/main-job-frontier.sh ${*:-}\` on $(nproc) cores ($cpu), $(date -u '+%F %H:%M') UTC; load average before"
  echo "$load_before, after $(cut -d' ' -f1-3 /proc/loadavg). Each recipe: \`resnet train --data fashion-mnist:data/fashion-mnist-small"
  echo "--val-split 0.05 --stem imagenet --image-size S --epochs E --batch-size B --schedule X --threads 2 --seed 1\` (SGD Nesterov,"
  echo "peak learning rate 0.1, weight decay 5e-4, label smoothing 0.1, as the main job). \"wall\" is the whole \`resnet train\`"
  echo "process; \"+ build\" adds the Release build of a fresh clone, $(printf '%.0f' "$build") s here (the target: ≤ 480 s, test accuracy ≥ 0.88)."
  echo
  echo "| epochs | image size | batch | schedule | test accuracy | wall, s | wall + build, s | img/s (last epoch) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} | tee benchmarks/main-job-frontier.md
