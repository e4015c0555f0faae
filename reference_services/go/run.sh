#!/bin/sh
# Starts the Go reference service; the suite sets PORT and the OTEL_* variables.
# Build it first with build.sh.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/bin/reference-go" "$@"
