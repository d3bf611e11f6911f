"""Where the time goes in ResNet-18: the operator-class breakdown of each framework's profiler.

ResNet-18 training at batch 4 in pytorch (eager), mxnet (hybridized) and tensorflow
(tf.function), and ResNet-18 inference at batch 4 in onnx (ORT optimized), at 64 px on one
thread: each point in its own profile worker (`suite.profiling`, as `--profile` runs it),
with longer windows than a sweep's, three profiled windows between four unprofiled ones.
Per point: ms per step and % per operator class, the framework's overhead, the sum of classes + overhead (the profiled step) against the same
process's unprofiled step (the issue asks for within 5%), and the profiler's own cost.

    .venv/bin/python benchmarks/profile_breakdown.py [--size 64] [--batch 4] [--window 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from suite.profiling.classes import CLASSES, OVERHEAD, class_label
from suite.profiling.driver import profile_one, profile_settings
from suite.spec import PointSpec
from suite.topology import read_topology

POINTS = (("pytorch", "train", "none"), ("mxnet", "train", "script"),
          ("tensorflow", "train", "script"), ("onnx", "infer", "script"))
TOLERANCE_PCT = 5.0


def breakdown_lines(spec: PointSpec, p: dict) -> list[str]:
    """The point's classes, overhead, sums and the profiler's cost, as console lines."""
    head = f"{spec.framework}/{spec.optimization} {spec.task} resnet18 batch {spec.batch_size}"
    if p.get("status") != "ok":
        return [f"{head}: profile unavailable: {p.get('reason')}"]
    lines = [f"{head}  ({p['profiler']}; {p['steps']} steps per window, {p['basis']} time)"]
    for cls in (*CLASSES, OVERHEAD):
        ms = p["overhead_ms"] if cls == OVERHEAD else p["classes_ms"][cls]
        pct = p["overhead_pct"] if cls == OVERHEAD else p["classes_pct"][cls]
        if cls == OVERHEAD or ms > 0:
            lines.append(f"  {class_label(cls):<24} {ms:9.3f} ms  {pct:5.1f}%")
    total = sum(p["classes_ms"].values()) + p["overhead_ms"]
    off = 100.0 * (total / p["unprofiled_step_ms"] - 1.0)
    lines += [f"  {'Σ op self time':<24} {p['op_self_ms']:9.3f} ms  "
              f"({100 * p['op_self_ms'] / p['unprofiled_step_ms']:.1f}% of the unprofiled step)",
              f"  {'Σ classes + overhead':<24} {total:9.3f} ms  (= the profiled step)",
              f"  {'unprofiled step':<24} {p['unprofiled_step_ms']:9.3f} ms  -> Σ is "
              f"{off:+.1f}% of it: {'within' if abs(off) <= TOLERANCE_PCT else 'NOT within'} "
              f"{TOLERANCE_PCT:g}%",
              f"  {'profiler own cost':<24} {p['profiler_cost_pct']:+8.1f} %   (profiled / "
              f"unprofiled step - 1)"]
    top = ", ".join(f"{o['name']} {o['ms_per_step']:.2f}" for o in p["ops"][:4])
    return lines + [f"  largest ops (ms/step): {top}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3, help="profiled windows (U P U P ... U)")
    parser.add_argument("--frameworks", default=",".join(fw for fw, _, _ in POINTS),
                        help="comma list of the frameworks to profile")
    args = parser.parse_args()
    chosen = args.frameworks.split(",")
    settings = profile_settings({}, {"profile": {"window_s": args.window, "warmup_s": 2.0,
                                                 "min_steps": 10, "rounds": args.rounds}})
    topo = read_topology()
    print(f"ResNet-18 at {args.size} px, batch {args.batch}, {args.threads} thread(s); "
          f"windows of {args.window:g} s, {args.rounds} profiled between unprofiled ones "
          f"(onnx: one profiled, then two unprofiled)\n")
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for fw, task, opt in (p for p in POINTS if p[0] in chosen):
            spec = PointSpec(task, fw, opt, "resnet18", args.batch, args.size,
                             threads=args.threads)
            started = time.time()
            p = profile_one(Path(tmp), topo, spec, settings, 600.0, None)
            print("\n".join(breakdown_lines(spec, p)) + f"\n  ({time.time() - started:.0f} s)\n")
            if p.get("status") == "ok":
                total = sum(p["classes_ms"].values()) + p["overhead_ms"]
                summary.append(f"{fw:<11} {task:<6} {total:9.2f} {p['unprofiled_step_ms']:10.2f} "
                               f"{100 * (total / p['unprofiled_step_ms'] - 1):+8.1f}% "
                               f"{p['overhead_ms']:9.2f} {p['profiler_cost_pct']:+8.1f}%")
    print(f"{'framework':<11} {'task':<6} {'Σ+ovh ms':>9} {'unprof ms':>10} {'Σ vs unp':>9} "
          f"{'ovh ms':>9} {'prof cost':>9}")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
