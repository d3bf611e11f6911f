#!/usr/bin/env bash
# Sets up the environment (all frameworks, so no adapter test is skipped by accident) and
# runs the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-env.sh
exec "${DLBENCH_VENV:-.venv}/bin/python" -m pytest -ra "$@"
