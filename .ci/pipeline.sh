#!/usr/bin/env bash
# The real pipeline of --via-collector and --backends, built once into the cache outside the
# repository ($XDG_CACHE_HOME/otelconform, else ~/.cache/otelconform) and reused afterwards:
# the OpenTelemetry Collector (OCB, pinned, from the Go module proxy; fixtures/real_collector.py),
# Jaeger v2 (its Go module, pinned; fixtures/backends.py) and Debian's prometheus. Appends how
# long each took to reports/build-times.txt (0-1 s once cached).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mkdir -p reports

timed() {
  local name=$1 started
  shift
  started=$(date +%s)
  "$@" >&2
  echo "$name $(( $(date +%s) - started ))s" | tee -a reports/build-times.txt >&2
}

echo "==> the real pipeline: OpenTelemetry Collector, Jaeger, Prometheus" >&2
timed otelcol .venv/bin/python -m otelconform_fixtures.real_collector
timed jaeger .venv/bin/python -c 'from otelconform_fixtures.backends import jaeger_binary; print(jaeger_binary())'
if ! command -v prometheus >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo flock /tmp/apt.lock apt-get update -q >&2
  timed prometheus $sudo flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends prometheus
fi
