#!/usr/bin/env bash
# Starts the Python reference; the suite sets PORT and the OTEL_* variables.
# Python: $PYTHON, else the active virtualenv's, else the repo's .venv, else python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [[ -n "${PYTHON:-}" ]]; then py=$PYTHON
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then py=$VIRTUAL_ENV/bin/python
elif [[ -x "$repo/.venv/bin/python" ]]; then py=$repo/.venv/bin/python
else py=python3
fi
exec "$py" "$here/server.py"
