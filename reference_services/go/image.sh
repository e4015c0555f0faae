#!/usr/bin/env bash
# Builds the Go reference into a local image, FROM scratch: build.sh generates the contract's
# code, then the service is linked statically (CGO_ENABLED=0) into build/image/ and docker
# builds the Dockerfile with that folder as its context. Needs a running Docker engine
# (.ci/docker.sh). Idempotent: an unchanged binary reuses the cached layer.
#   IMAGE=otelconform/reference-go:local (default) reference_services/go/image.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
image=${IMAGE:-otelconform/reference-go:local}
bash ./build.sh >&2
mkdir -p build/image
CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags "-X main.version=${SERVICE_VERSION:-1.0.0}" \
  -o build/image/reference-go .
# The legacy builder (Debian's engine has no BuildKit here); its deprecation notice shown only
# with a failure.
if ! built=$(DOCKER_BUILDKIT=0 docker build -q -t "$image" -f Dockerfile build/image 2>&1); then
  echo "$built" >&2
  exit 1
fi
echo "$image"
