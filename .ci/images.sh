#!/usr/bin/env bash
# The container targets' images (tests/test_containers.py), built locally on the engine
# .ci/docker.sh starts (no image registry is reached): the Go reference statically linked
# FROM scratch (reference_services/go/image.sh); Rust, C and C++, linked against glibc, FROM
# scratch with the shared libraries each loads (reference_services/scratch_image.sh), from
# the binaries .ci/setup.sh built. Appends how long each took to reports/build-times.txt.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mkdir -p reports
declare -A binary=(
  [rust]=reference_services/rust/target/release/conformance-reference-rust
  [c]=reference_services/c/build/conformance-service-c
  [cpp]=reference_services/cpp/build/conformance_cpp_service
)

bash .ci/docker.sh
for name in go rust c cpp; do
  echo "==> image otelconform/reference-$name:local" >&2
  started=$(date +%s)
  if [ "$name" = go ]; then
    bash reference_services/go/image.sh >/dev/null
  else
    bash reference_services/scratch_image.sh "${binary[$name]}" "otelconform/reference-$name:local" >/dev/null
  fi
  echo "image-$name $(( $(date +%s) - started ))s" | tee -a reports/build-times.txt >&2
done
