#!/usr/bin/env bash
# Sets up the environment (all frameworks, so no adapter test is skipped by accident) and
# runs the test suite. `./test.sh --fast` is the inner loop: it leaves out the tests marked
# `slow` (end-to-end sweeps, real workers, Slurm jobs, LoadGen runs, the zoo-wide
# equivalence checks). Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-env.sh
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then
    args+=(-m "not slow")
  else
    args+=("$arg")
  fi
done
exec "${DLBENCH_VENV:-.venv}/bin/python" -m pytest -ra ${args[@]+"${args[@]}"}
