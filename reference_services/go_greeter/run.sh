#!/bin/sh
# Starts the greeter; the suite sets PORT and the OTEL_* variables.
# Build it first with build.sh.
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/bin/greeter" ]; then
  echo "run.sh: $here/bin/greeter is missing: run $here/build.sh first" >&2
  exit 1
fi
exec "$here/bin/greeter" "$@"
