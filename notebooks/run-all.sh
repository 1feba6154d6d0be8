#!/usr/bin/env bash
# Executes the notebooks headlessly and writes each back with its outputs (the committed notebooks come from this).
#   notebooks/run-all.sh                       every notebook here
#   notebooks/run-all.sh 02-*.ipynb            only those named (paths relative to notebooks/)
# It publishes the library the notebooks #r first (artifacts/notebook-lib) and stops at the first notebook with a
# failing cell, leaving that notebook unchanged and its executed copy in a temporary file it names.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
dotnet publish notebooks/NotebookLib -c Release -r linux-x64 --self-contained false -o artifacts/notebook-lib --nologo -v quiet
dotnet tool restore > /dev/null
cd "$here"
if [ $# -eq 0 ]; then set -- *.ipynb; fi
for notebook in "$@"; do
  executed="$(mktemp --suffix=.ipynb)"
  start=$SECONDS
  if ! dotnet repl --run "$notebook" --exit-after-run --output-path "$executed" > "$executed.log" 2>&1; then
    echo "$notebook: a cell failed after $((SECONDS - start)) s; executed copy: $executed, log: $executed.log" >&2
    exit 1
  fi
  mv "$executed" "$notebook"
  rm -f "$executed.log"
  echo "$notebook: $((SECONDS - start)) s"
done
