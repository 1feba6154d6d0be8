#!/usr/bin/env bash
# The benchmark suite: one command for benchmarks/RESULTS.md and benchmarks/charts/*.png (see benchmarks/README.md).
#   benchmarks/run.sh [--runs N] [--count IMAGES] [--main-job] [--only a,b,...]
# Installs the Debian references when it may (root) and they are missing, builds the Release programs, then runs
# benchmarks/suite.py. Run it on a quiet machine: it prints the load average, and RESULTS.md records it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then .ci/install-deps; else echo "not root: skipping .ci/install-deps (missing references are reported as unavailable)"; fi
dotnet build ResNet.Cli -c Release -v q -nologo >/dev/null
dotnet build benchmarks/MLNetFeaturizer -c Release -v q -nologo >/dev/null
# The library as notebooks load it, for the train32_kernel workload (training inside dotnet repl's kernel).
dotnet publish notebooks/NotebookLib -c Release -r linux-x64 --self-contained false -o artifacts/notebook-lib -v q -nologo >/dev/null
dotnet tool restore >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
exec /usr/bin/python3 benchmarks/suite.py "$@"
