#!/usr/bin/env bash
# Builds and runs the otelc unit tests under AddressSanitizer + UBSan.
# Last line: "N passed, N failed". FUZZ_RUNS=N also runs the libFuzzer target.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh >&2
make -j"${JOBS:-2}" test-asan
if [ -n "${FUZZ_RUNS:-}" ]; then
  make fuzz >&2
  mkdir -p build/fuzz/corpus
  ./build/fuzz/fuzz_propagation -runs="$FUZZ_RUNS" -max_len=4096 -print_final_stats=1 \
    build/fuzz/corpus >&2
fi
