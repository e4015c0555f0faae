#!/usr/bin/env bash
# Builds the C++ reference service (and the otelc C library it traces with)
# on a fresh Debian 12 machine. Idempotent: installs only what is missing and
# rebuilds incrementally. Output: build/conformance_cpp_service.
#
# Environment:
#   BUILD_DIR      build directory (default: <this folder>/build, gitignored)
#   JOBS           parallel compile jobs (default 2)
#   OTELC_LIBRARY  use this libotelc.a instead of building it from ../c
#   RUN_TESTS=0    skip the wrapper unit test
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
C_DIR="$(cd "$HERE/../c" && pwd)"
BUILD_DIR="${BUILD_DIR:-$HERE/build}"
JOBS="${JOBS:-2}"

log() { echo "[cpp/build.sh] $*" >&2; }

# ---- system packages (Debian 12: grpc++ 1.51, protobuf 3.21) ----
# (libcurl4-openssl-dev, libjansson-dev and zlib1g-dev are what the otelc library needs.)
packages=(g++ make cmake pkg-config protobuf-compiler libprotobuf-dev
          libgrpc++-dev protobuf-compiler-grpc libgtest-dev
          libcurl4-openssl-dev libjansson-dev zlib1g-dev)
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
# Built through its Makefile's library target into our own build directory,
# so that it never races with a build of ../c running in ../c/build.
if [ -z "${OTELC_LIBRARY:-}" ]; then
  log "building the otelc C library (make -C ../c lib)"
  make -s -C "$C_DIR" lib BUILD="$BUILD_DIR/otelc" -j "$JOBS" >&2
  OTELC_LIBRARY="$BUILD_DIR/otelc/libotelc.a"
fi
OTELC_LINK_LIBS="$(make -s -C "$C_DIR" print-libs 2>/dev/null || echo -lcurl -ljansson -lz -lpthread -lm)"
log "otelc: $OTELC_LIBRARY ($OTELC_LINK_LIBS)"

# ---- the C++ service ----
start=$(date +%s)
cmake -S "$HERE" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOTELC_LIBRARY="$OTELC_LIBRARY" -DOTELC_LINK_LIBS="$OTELC_LINK_LIBS" >&2
cmake --build "$BUILD_DIR" -j "$JOBS" >&2
log "C++ build took $(($(date +%s) - start)) s"

if [ "${RUN_TESTS:-1}" != 0 ] && [ -x "$BUILD_DIR/otelcpp_test" ]; then
  (cd "$BUILD_DIR" && ctest --output-on-failure >&2)
fi
log "built $BUILD_DIR/conformance_cpp_service"
