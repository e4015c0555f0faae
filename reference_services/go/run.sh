#!/bin/sh
# Starts the Go reference service; the suite sets PORT and the OTEL_* variables.
# Build it first with build.sh.
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/bin/reference-go" ]; then
  echo "run.sh: $here/bin/reference-go is missing: run $here/build.sh first" >&2
  exit 1
fi
exec "$here/bin/reference-go" "$@"
