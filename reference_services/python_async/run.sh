#!/usr/bin/env bash
# Start the grpclib reference target on 127.0.0.1:$PORT.
#   PYTHON=/path/to/python run.sh [--port N]
# Generates the conformance.v1 code into _gen/ when missing, then execs the server.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
if [[ ! -f "$HERE/_gen/conformance_v1_grpc.py" || ! -f "$HERE/_gen/conformance_v1_pb2.py" ]]; then
  "$PY" "$HERE/gen.py"
fi
exec "$PY" "$HERE/service.py" "$@"
