#!/bin/sh
# Starts the Python reference; the suite sets PORT and the OTEL_* variables.
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/server.py"
