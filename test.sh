#!/usr/bin/env bash
# The test command: sets up what the tests need, builds the solution and runs every test (see README).
set -euo pipefail
cd "$(dirname "$0")"

# Set-up, done here so this one command works on a fresh machine: the Debian packages of .ci/install-deps (installed
# directly as root, with sudo -n otherwise, or the one command to run is printed at once) and the local dotnet tools.
if ! missing=$(bash .ci/install-deps --check 2>&1); then
  if [ "$(id -u)" -eq 0 ]; then
    bash .ci/install-deps
  elif sudo -n true 2>/dev/null; then
    sudo -n bash .ci/install-deps
  else
    echo "test.sh: Debian packages the tests need are missing: $missing." >&2
    echo "Run this once, then ./test.sh again:  sudo bash .ci/install-deps" >&2
    exit 1
  fi
fi
dotnet tool restore >/dev/null

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
