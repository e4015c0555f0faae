#!/usr/bin/env bash
# Builds the Rust reference service. Idempotent; on a fresh Debian 12 machine with
# rustup/cargo present it installs protoc (Debian's protobuf-compiler) first.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v protoc >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! flock /tmp/apt.lock $SUDO apt-get install -y -q protobuf-compiler; then
    flock /tmp/apt.lock $SUDO apt-get update -q
    flock /tmp/apt.lock $SUDO apt-get install -y -q protobuf-compiler
  fi
fi

export CARGO_TARGET_DIR="$PWD/target"
cargo build --release --locked
