#!/usr/bin/env bash
# Builds the C++ reference service (and the otelc C library it traces with)
# on a fresh Debian 12 machine. Idempotent: installs only what is missing and
# rebuilds incrementally. Output: build/conformance_cpp_service.
#
# Environment:
#   BUILD_DIR      build directory (default: <this folder>/build, gitignored)
#   JOBS           parallel compile jobs (default 2)
#   OTELC_LIBRARY  use this libotelc.a instead of building ../c
#   RUN_TESTS=0    skip the wrapper unit test
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
C_DIR="$(cd "$HERE/../c" && pwd)"
BUILD_DIR="${BUILD_DIR:-$HERE/build}"
JOBS="${JOBS:-2}"

log() { echo "[cpp/build.sh] $*" >&2; }

# ---- system packages (Debian 12: grpc++ 1.51, protobuf 3.21) ----
packages=(g++ make cmake pkg-config protobuf-compiler libprotobuf-dev
          libgrpc++-dev protobuf-compiler-grpc libgtest-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing: ${missing[*]}"
  flock /tmp/apt.lock $SUDO apt-get update -q
  flock /tmp/apt.lock $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- the otelc C library ----
if [ -z "${OTELC_LIBRARY:-}" ]; then
  log "building the otelc C library (../c/build.sh)"
  bash "$C_DIR/build.sh" >&2
  OTELC_LIBRARY="$(find "$C_DIR" -path '*/build*' -name libotelc.a -printf '%T@ %p\n' 2>/dev/null \
                   | sort -rn | head -n1 | cut -d' ' -f2-)"
  if [ -z "$OTELC_LIBRARY" ]; then
    log "libotelc.a not found under $C_DIR after ../c/build.sh"
    exit 1
  fi
fi
log "otelc: $OTELC_LIBRARY"

# ---- the C++ service ----
start=$(date +%s)
cmake -S "$HERE" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOTELC_LIBRARY="$OTELC_LIBRARY" >&2
cmake --build "$BUILD_DIR" -j "$JOBS" >&2
log "C++ build took $(($(date +%s) - start)) s"

if [ "${RUN_TESTS:-1}" != 0 ] && [ -x "$BUILD_DIR/otelcpp_test" ]; then
  (cd "$BUILD_DIR" && ctest --output-on-failure >&2)
fi
log "built $BUILD_DIR/conformance_cpp_service"
