#!/usr/bin/env bash
# The whole GPU check in one run, on the GPU machine (an H200 lent for a few minutes):
#   scripts/device-check.sh [OUT] [gpu_check options]     (OUT defaults to $OUT)
# That machine has its own Python (3.12, torch with CUDA, numpy 2, cupy, torchvision), no
# network, no TensorFlow or MXNet: the project is installed into it without dependencies
# and its extension built there (CUDA is found at run time, no toolkit needed). If pip
# cannot install it, the extension is built with CMake directly and the tree is put on
# PYTHONPATH, so the check still runs. Everything lands in OUT (at most 8 files; see
# benchmarks/gpu_check.py); the steps and their sizes are in benchmarks/gpu_plan.py.
#   scripts/device-check.sh "$OUT" --steps reference --budget-s 300   # the reference run
#   python benchmarks/gpu_check.py /tmp/check --device cpu             # the CPU dry run
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:?give the output folder as the first argument or in \$OUT}}
[ $# -gt 0 ] && shift
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT_DIR/install.log"
start=$(date +%s)
if ! "$PY" -m pip install --no-deps --no-build-isolation -e . >"$LOG" 2>&1; then
  echo "device-check: pip install failed (see install.log); building with CMake" | tee -a "$LOG"
  build=$(mktemp -d)
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$PY")" \
    -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/suite" >>"$LOG" 2>&1 &&
    cmake --build "$build" -j "$(nproc)" >>"$LOG" 2>&1 || echo "device-check: CMake build failed" | tee -a "$LOG"
fi
"$PY" -c "import suite._native as n; print('native built; CUDA:', n.cuda_available() or n.cuda_unavailable_reason())" 2>&1 | tee -a "$LOG"
echo "install took $(( $(date +%s) - start )) s" | tee -a "$LOG"
exec "$PY" benchmarks/gpu_check.py "$OUT_DIR" "$@"
