#!/usr/bin/env bash
# The project's own tests: set up (build every reference), then one pytest run that
# covers the fake collector, the mutant matrix, misbehaving targets, every reference
# service in launch and attach mode, and each reference's own unit tests.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash .ci/setup.sh
exec .venv/bin/python -m pytest tests reference_services/python_async/tests "$@"
