#!/usr/bin/env bash
# The test command: builds the solution and runs every test (see README).
set -euo pipefail
cd "$(dirname "$0")"
# Everything the tests write to the temp folder (models, checkpoints, exported files) goes into one folder of this
# run, removed at the end, so repeated runs do not fill the disk.
export TMPDIR=$(mktemp -d -t resnet-test-run.XXXXXX)
trap 'rm -rf "$TMPDIR"' EXIT
log=$TMPDIR/test.log
status=0
dotnet test ResNet.MLNet.sln "$@" 2>&1 | tee "$log" || status=$?
# One plain summary line over all test assemblies.
awk '/(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
