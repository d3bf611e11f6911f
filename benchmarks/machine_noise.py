"""Is this machine quiet enough for ±2%? The drift of a framework's steps against a pure FMA loop.

A point's CI can only be as narrow as the machine lets it: when a network's step time
drifts over seconds, or differs between fresh processes, no number of steps brings a
point that covers that spread to ±2%. This script shows where the noise comes from, with
no harness in the timed region: one process, pinned to --threads cores, alternates

  fma       the native FMA loop (suite._native.fma_peak) on the same cores for --probe s:
            the cores' compute speed, which neither caches nor memory can slow
  steps     a plain Python loop over the adapter's runnable `step()` for --block s,
            timed by time.perf_counter_ns

for --seconds. Printed per block: the FMA figure and the steps' median; then each one's
relative sd between blocks, their correlation, and over all steps the coefficient of
variation and the share of steps slower than 1.5 x the median. A steps sd far above the
FMA sd means the drift comes from what the network touches (caches and memory that other
tenants share), not from the clock; the CIs of `--processes N` points cover exactly that.

    python benchmarks/machine_noise.py                      # onnx resnet50 bs 2 @224, 1 thread
    python benchmarks/machine_noise.py --framework pytorch --model resnet18 --image-size 64 --batch 1 --threads 2
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from suite.spec import PointSpec
from suite.worker import apply_placement, build_runnable

SETTINGS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "seed": 0}


def blocks(step, seconds: float, block_s: float, probe_s: float, threads: int
           ) -> tuple[list[float], list[float], np.ndarray]:
    """(FMA GFLOP/s per block, step median ms per block, every step's ms)."""
    from suite import _native
    fma, medians, steps = [], [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fma.append(_native.fma_peak(threads, probe_s)[0])
        times = []
        start = time.monotonic()
        while time.monotonic() - start < block_s:
            t0 = time.perf_counter_ns()
            step()
            times.append(time.perf_counter_ns() - t0)
        medians.append(float(np.median(times)) / 1e6)
        steps.extend(times)
    return fma, medians, np.asarray(steps, dtype=np.float64) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--framework", default="onnx")
    p.add_argument("--optimization", default="deployed")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--task", default="infer", choices=("infer", "train"))
    p.add_argument("--seconds", type=float, default=45.0, help="how long to alternate")
    p.add_argument("--block", type=float, default=1.5, help="seconds of steps per block")
    p.add_argument("--probe", type=float, default=0.2, help="seconds of FMA loop per block")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    args = p.parse_args()

    cores = sorted(os.sched_getaffinity(0))[:args.threads]
    apply_placement({"cores": cores})            # before the framework starts a thread
    from frameworks import deployed_optimization, get_adapter
    from suite.models import zoo
    adapter = get_adapter(args.framework)
    adapter.configure_threads(args.threads, 1)
    opt = deployed_optimization(args.framework, args.task) if args.optimization == "deployed" \
        else args.optimization
    spec = PointSpec(args.task, args.framework, opt, args.model, args.batch, args.image_size,
                     threads=args.threads)
    runnable = build_runnable(adapter, zoo.get_model(args.model, args.image_size), spec,
                              SETTINGS)
    for _ in range(args.warmup):
        runnable.step()
    print(f"# {args.framework} ({opt}) {args.model} {args.task} bs {args.batch} "
          f"@{args.image_size}, {args.threads} thread(s) on cores {cores}; blocks of "
          f"{args.block:g} s of steps after {args.probe:g} s of FMA loop", flush=True)
    fma, medians, steps = blocks(runnable.step, args.seconds, args.block, args.probe,
                                 args.threads)
    for k, (g, m) in enumerate(zip(fma, medians), 1):
        print(f"block {k:3d}  fma {g:8.1f} GFLOP/s  steps {m:9.2f} ms median")
    f, s = np.asarray(fma), np.asarray(medians)
    corr = float(np.corrcoef(f, s)[0, 1]) if len(f) > 2 else float("nan")
    median = float(np.median(steps))
    print(f"between blocks ({len(f)}): fma sd {f.std(ddof=1) / f.mean():.1%}, "
          f"step median sd {s.std(ddof=1) / s.mean():.1%}, correlation {corr:+.2f}")
    print(f"all {steps.size} steps: median {median:.2f} ms, cv {steps.std() / steps.mean():.1%}, "
          f"{(steps > 1.5 * median).mean():.1%} slower than 1.5 x the median, "
          f"slowest {steps.max() / median:.1f} x")


if __name__ == "__main__":
    main()
