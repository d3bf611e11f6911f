#!/usr/bin/env bash
# The main job on a small default: a training sweep and an inference sweep of small models
# at a small image size (a few minutes on 2 CPU cores), then tables, plots and the report.
# Every point runs in 3 fresh worker processes, in 3 interleaved
# rounds (each round measures every point once, in a seeded random order, a block's
# frameworks back to back),
# so its CI covers the spread between processes and the machine's drift over the sweep,
# and each framework's speed relative to the block's first framework is a paired ratio
# with a 95% CI (ratios.csv, the summary's "Frameworks compared"); one block in four gets a
# blind control copy of that reference, whose ratio must come out as no difference.
# --max-processes keeps it a few-minute demo: no extra rounds for imprecise points (the
# CLI's default allows up to 8 processes). Every point runs at least --min-steps (60)
# timed steps even past --max-time / --samples; each sweep prints its estimated cost first
# and its summary and report last. Training runs on 1 thread at 32 px: on 2 cores, 2
# training threads share their cores with the harness and the OS, and their steps scatter
# by 5-14%. Inference sweeps 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-env.sh
PY=${DLBENCH_VENV:-.venv}/bin/python
STAMP=$(date +%Y%m%d-%H%M%S)
"$PY" -m suite train --models resnet18,squeezenet --batches 2,4 --image-size 32 \
  --frameworks pytorch,mxnet,tensorflow --threads 1 --min-time 0.5 --max-time 2 --time-cap 10 \
  --samples 1000 --processes 3 --max-processes 3 --out "results/$STAMP-train" "$@"
"$PY" -m suite infer --frameworks pytorch,onnx --models resnet18 --batches 1,4 --threads 1,2 \
  --opts none,script --image-size 64 --min-time 0.5 --max-time 2 --time-cap 12 \
  --processes 3 --max-processes 3 --out "results/$STAMP-infer" "$@"
