#!/usr/bin/env bash
# The main job on a small default: a training sweep and an inference sweep of small models
# at a small image size (a few minutes on 2 CPU cores), then tables, plots and the report.
# A quick demo: one worker process per point (--processes 1), so its CIs cover step-to-step
# noise only, as its report says; the CLI's default of 3 processes per point makes the CIs
# cover the spread between processes too, at two to three times this script's time
# (./run.sh --processes 3 does that here). Every point runs at least --min-steps (60) timed
# steps even past --max-time / --samples, and a point whose precision is within reach of
# --time-cap gets that time too; each sweep prints its estimated cost first and its summary
# and report last. Training runs on 1 thread at 32 px: on 2 cores, 2 training threads share
# their cores with the harness and the OS, and their steps scatter by 5-14%. Inference
# sweeps 1 and 2 threads; on 2 cores the 2-thread steps scatter by 13-29% (a plain loop
# without the harness too), so those points get up to 24 s to bring their CIs to +-2%.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-env.sh
PY=${DLBENCH_VENV:-.venv}/bin/python
STAMP=$(date +%Y%m%d-%H%M%S)
"$PY" -m suite train --models resnet18,squeezenet --batches 2,4 --image-size 32 \
  --frameworks pytorch,mxnet,tensorflow --threads 1 --min-time 0.5 --max-time 2 --time-cap 10 \
  --samples 1000 --processes 1 --out "results/$STAMP-train" "$@"
"$PY" -m suite infer --frameworks pytorch,onnx --models resnet18 --batches 1,4 --threads 1,2 \
  --opts none,script --image-size 64 --min-time 0.5 --max-time 2 --time-cap 24 \
  --processes 1 --out "results/$STAMP-infer" "$@"
