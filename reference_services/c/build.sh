#!/usr/bin/env bash
# Builds the C reference service and libotelc into reference_services/c/build/.
# Idempotent; installs its own Debian 12 build dependencies when missing.
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libjansson-dev
      zlib1g-dev pkg-config clang make gcc libclang-rt-14-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build.sh: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO flock /tmp/apt.lock apt-get update -q
  $SUDO flock /tmp/apt.lock apt-get install -y -q "${missing[@]}"
fi

JOBS="${JOBS:-2}"
make -j"$JOBS" all
echo "build.sh: built build/conformance-service-c and build/libotelc.a" >&2
