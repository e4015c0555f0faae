#!/usr/bin/env bash
# Everything the suite and its tests need, on a fresh Debian 12 machine with the
# polyglot toolchains (python3.11, go, cargo, gcc): a virtualenv with the suite and the
# Python references, then every reference service built from source.
# Idempotent; prints how long each build took (also kept in reports/build-times.txt).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mkdir -p reports

step() { echo "==> $*" >&2; }

if [[ ! -x .venv/bin/python ]]; then
  step "creating .venv"
  python3 -m venv .venv
fi
step "installing the suite and the Python references into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]" -r reference_services/python_async/requirements.txt

: > reports/build-times.txt
for lang in ${CONFORMANCE_BUILD-c cpp go go_greeter rust}; do
  step "building reference_services/$lang"
  started=$(date +%s)
  bash "reference_services/$lang/build.sh" >&2
  echo "$lang $(( $(date +%s) - started ))s" | tee -a reports/build-times.txt >&2
done
# --via-collector and --backends (tests/test_real_collector.py): cached outside the repository.
bash .ci/pipeline.sh
