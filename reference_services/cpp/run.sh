#!/usr/bin/env bash
# Starts the C++ reference service on 127.0.0.1:$PORT (or --port N).
# Telemetry is configured by the standard OTEL_* variables only.
# Builds first (to stderr) when the binary is missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${BUILD_DIR:-$HERE/build}/conformance_cpp_service"
if [ ! -x "$BIN" ]; then
  "$HERE/build.sh" >&2
fi
exec "$BIN" "$@"
