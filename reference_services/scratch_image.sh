#!/usr/bin/env bash
# Builds a local FROM scratch image of one dynamically linked service binary (a reference
# whose toolchain here cannot link it statically): the binary at /service and the shared
# libraries ldd resolves for it (the dynamic loader too), copied from this machine at their
# own paths, through scratch.Dockerfile. Needs a running Docker engine (.ci/docker.sh).
#   reference_services/scratch_image.sh BINARY IMAGE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$(readlink -f "$1")
image=$2
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rootfs"
cp "$binary" "$context/rootfs/service"
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp -L "$lib" "$context/rootfs$lib"
done
# The legacy builder (Debian's engine has no BuildKit here); its deprecation notice shown only
# with a failure.
if ! built=$(DOCKER_BUILDKIT=0 docker build -q -t "$image" -f "$here/scratch.Dockerfile" "$context" 2>&1); then
  echo "$built" >&2
  exit 1
fi
echo "$image"
