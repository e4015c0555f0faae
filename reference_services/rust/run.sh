#!/usr/bin/env bash
# Runs the Rust reference service on 127.0.0.1:$PORT (or --port N); builds it
# first if the binary is missing. OTEL_* variables configure telemetry.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/target/release/conformance-reference-rust"
if [ ! -x "$bin" ]; then
  "$here/build.sh" >&2
fi
exec "$bin" "$@"
