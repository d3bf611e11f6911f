#!/usr/bin/env bash
# Creates (or reuses) the virtual environment .venv and installs dlbench with every framework.
# torch==2.13.0 is installed first: on our machines that pin takes a local CPU build, while an
# unpinned torch would pull several GB of CUDA packages (CONTRACT §12).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${DLBENCH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e ".[all,test]"
"$PY" -c "import suite._native" || { echo "setup: the native extension did not build" >&2; exit 1; }
