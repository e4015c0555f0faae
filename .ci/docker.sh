#!/usr/bin/env bash
# A Docker engine for the container targets (--target-image, tests/test_containers.py):
# installs Debian's docker.io when dockerd is missing and starts dockerd as root the way
# this kind of machine allows (no overlayfs, no bridge, no iptables: the containers use the
# host's network), then waits, bounded, until the engine answers. Idempotent: an engine that
# already answers is left alone. Prints nothing on stdout; exits non-zero, with dockerd's
# log tail, when the engine cannot be had.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
wait_s=${DOCKERD_WAIT_SECONDS:-60}
log=${DOCKERD_LOG:-/var/log/conformance-dockerd.log}

if ! command -v dockerd >/dev/null 2>&1; then
  echo "==> installing docker.io" >&2
  $sudo flock /tmp/apt.lock apt-get update -q >&2
  $sudo flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io >&2
fi

answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  exit 0
fi
echo "==> starting dockerd (log: $log)" >&2
$sudo setsid dockerd --storage-driver=vfs --bridge=none --iptables=false </dev/null >"$log" 2>&1 &
pid=$!
deadline=$((SECONDS + wait_s))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "docker.sh: dockerd exited before it answered; its log ends:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "docker.sh: dockerd did not answer within ${wait_s}s; its log ends:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.2  # the engine's socket gives no event to wait on: poll it
done
echo "==> dockerd $(docker version --format '{{.Server.Version}}') answers" >&2
