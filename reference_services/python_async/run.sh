#!/usr/bin/env bash
# Start the grpclib reference target on 127.0.0.1:$PORT (or --port N).
#   [PYTHON=/path/to/python] run.sh [--port N]
# Python: $PYTHON, else the active virtualenv's, else the repo's .venv, else python3.
# Generates the conformance.v1 code into _gen/ when missing, then execs the server.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
  PY="$PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [[ -x "$REPO/.venv/bin/python" ]]; then
  PY="$REPO/.venv/bin/python"
else
  PY=python3
fi
if [[ ! -f "$HERE/_gen/conformance_v1_grpc.py" || ! -f "$HERE/_gen/conformance_v1_pb2.py" ]]; then
  "$PY" "$HERE/gen.py"
fi
exec "$PY" "$HERE/service.py" "$@"
