#!/usr/bin/env bash
# Runs the C reference service on 127.0.0.1:$PORT (or --port N). Builds first
# if the binary is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/build/conformance-service-c" ]; then
  "$here/build.sh" >&2
fi
exec "$here/build/conformance-service-c" "$@"
