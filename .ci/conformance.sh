#!/usr/bin/env bash
# The main job: set up, then run the whole conformance suite against the Python
# reference and print the conformance report. Extra arguments go to pytest, e.g.
#   .ci/conformance.sh --semconv=seed --findings=reports/findings.json
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
CONFORMANCE_BUILD="" bash .ci/setup.sh
exec .venv/bin/python -m pytest --target-cmd "reference_services/python/run.sh" \
    --manifest reference_services/python/conformance.yaml "$@"
