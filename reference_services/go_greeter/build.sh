#!/usr/bin/env bash
# Builds the greeter into bin/greeter. Idempotent: installs protoc (Debian's
# protobuf-compiler) when missing, installs the pinned protoc plugins into
# build/gobin, generates the greeter.v1 code into internal/gen (gitignored)
# and builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

PROTOC_GEN_GO_VERSION=v1.36.12       # = google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
MODULE=conformance.example/reference/go_greeter
PROTO=greeter/v1/greeter.proto
GEN_PKG="$MODULE/internal/gen/greeter/v1;greeterv1"
VERSION=${SERVICE_VERSION:-1.0.0}

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: the go toolchain is required" >&2
  exit 1
fi

if ! command -v protoc >/dev/null 2>&1; then
  echo "build.sh: installing protobuf-compiler" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo flock /tmp/apt.lock apt-get update -q
  $sudo flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler
fi

gobin="$here/build/gobin"
mkdir -p "$gobin"
stamp="$gobin/.versions"
want="$PROTOC_GEN_GO_VERSION $PROTOC_GEN_GO_GRPC_VERSION"
if [ ! -x "$gobin/protoc-gen-go" ] || [ ! -x "$gobin/protoc-gen-go-grpc" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  GOBIN="$gobin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN="$gobin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  echo "$want" > "$stamp"
fi

# Generate every time (cheap, never stale), but replace the tree only when it
# changed so Go's build cache stays warm.
gen="$here/internal/gen"
rm -rf "$gen.tmp" && mkdir -p "$gen.tmp"
PATH="$gobin:$PATH" protoc -I "$here/proto" \
  --go_out="$gen.tmp" --go_opt=paths=source_relative --go_opt="M$PROTO=$GEN_PKG" \
  --go-grpc_out="$gen.tmp" --go-grpc_opt=paths=source_relative --go-grpc_opt="M$PROTO=$GEN_PKG" \
  "$PROTO"
if ! diff -rq "$gen.tmp" "$gen" >/dev/null 2>&1; then
  rm -rf "$gen" && mv "$gen.tmp" "$gen"
else
  rm -rf "$gen.tmp"
fi

mkdir -p bin
go build -buildvcs=false -trimpath -ldflags "-X main.version=$VERSION" -o bin/greeter .
echo "built $here/bin/greeter"
