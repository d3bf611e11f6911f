"""Does dlbench's measurement report the step time a plain hand loop sees? Worker path vs hand loop.

Two arms time the same PyTorch network (the adapter's module, so the network is no
variable) in one process, pinned and threaded as a worker pins itself:

  dlbench   suite.worker.run_point: the real worker measurement path (build, bind inputs,
            memory sampler running with the worker's settings, cold start, warm-up until
            steady, the native timing loop with the suite's stopping rules); its figure
            is the median of the point's timed samples, as dlbench reports it
  hand      what a user writes: `with torch.inference_mode(): module(x)` in a Python loop
            timed by time.perf_counter, after --warmup untimed steps; its median step

With --before, a third arm runs the worker path with the memory sampler as it was (1 kHz,
on the measured cores). Rounds interleave the arms (dlbench, hand, [before], dlbench, ...)
until every arm has --rounds quiet ones: rounds in which other processes used more than
--max-foreign of the measured cores' time are left out (benchmarks/_quiet.py). Printed:
each arm's median and best over its quiet rounds, and ratio = hand ms / arm ms (as issue
10 defines it: 1.00 is parity, below 1 dlbench makes the framework look slower than it is).

    python benchmarks/worker_fidelity.py                 # ResNet-50 bs 8 @224, 2 threads
    python benchmarks/worker_fidelity.py --image-size 112 --rounds 3 --before
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from _quiet import Block

from suite.spec import PointSpec
from suite.worker import apply_placement, build_runnable, run_point, worker_state

# The CLI's default stopping rules (dlbench infer), and the sampler interval before issue 10.
LOOP = {"precision": 0.02, "min_time_s": 1.0, "max_time_s": 10.0, "warmup_max_s": 10.0}
SETTINGS = {"loop": LOOP, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}
BEFORE_INTERVAL_US = 1000


def dlbench_ms(adapter: Any, spec: PointSpec, state: Any, settings: dict[str, Any]) -> float:
    """The median step time of one point measured by the worker path."""
    m = run_point(adapter, spec, settings, state)
    if m.status != "ok":
        raise RuntimeError(f"{spec.label()}: {m.status}: {m.message}")
    return statistics.median(m.samples_ns) / 1e6


def hand_ms(module: Any, x: Any, iterations: int, warmup: int) -> float:
    """The median step time of a plain inference loop over `module`."""
    import torch
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            module(x)
        for _ in range(iterations):
            t0 = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    """Per arm, its figure in every round."""
    cores = sorted(os.sched_getaffinity(0))[:args.threads]
    placement = apply_placement({"cores": cores})      # before torch starts a thread
    from frameworks import get_adapter
    adapter = get_adapter("pytorch")
    adapter.configure_threads(args.threads, 1)
    print(f"# torch {adapter.availability().version}, {args.model} infer bs {args.batch} "
          f"@{args.image_size}, {args.threads} threads on cores {cores}", flush=True)
    state = worker_state(placement)
    spec = PointSpec("infer", "pytorch", "none", args.model, args.batch, args.image_size,
                     threads=args.threads)
    from suite.models import zoo
    hand = build_runnable(adapter, zoo.get_model(args.model, args.image_size), spec, SETTINGS)
    arms = {"dlbench": lambda: dlbench_ms(adapter, spec, state, SETTINGS),
            "hand": lambda: hand_ms(hand.native, hand._inputs[0], args.iterations,
                                    args.warmup)}
    if args.before:
        before = dict(SETTINGS, sampler_interval_us=BEFORE_INTERVAL_US)
        arms["dlbench, sampler as before"] = lambda: dlbench_ms(adapter, spec, state, before)
    figures: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(args.max_rounds):
        if min(len(v) for v in figures.values()) >= args.rounds:
            break
        for name, arm in arms.items():
            with Block(cores) as b:
                ms = arm()
            kept = b.foreign_share <= args.max_foreign
            if kept:
                figures[name].append(ms)
            print(f"round {r + 1} {name:<28} {ms:9.2f} ms, others used "
                  f"{b.foreign_share:6.1%} of the cores{'' if kept else ': left out'}",
                  flush=True)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--model", default="resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="quiet rounds wanted per arm")
    p.add_argument("--max-rounds", type=int, default=20, help="rounds at most")
    p.add_argument("--max-foreign", type=float, default=0.02,
                   help="largest share of the measured cores others may use in a kept round")
    p.add_argument("--iterations", type=int, default=20, help="hand-loop steps per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed hand-loop steps per round")
    p.add_argument("--before", action="store_true",
                   help="also the worker path with the 1 kHz sampler it had before")
    figures = run(p.parse_args())
    if not all(figures.values()):
        raise SystemExit("no quiet round for some arm: rerun on an idle machine")
    hand, hand_best = statistics.median(figures["hand"]), min(figures["hand"])
    print(f"{'arm':<28} {'rounds':>6} {'median ms':>10} {'hand / arm':>11} {'best ms':>10} "
          f"{'hand / arm':>11}")
    for name, values in figures.items():
        ms, best = statistics.median(values), min(values)
        print(f"{name:<28} {len(values):>6} {ms:>10.2f} {hand / ms:>11.3f} {best:>10.2f} "
              f"{hand_best / best:>11.3f}")


if __name__ == "__main__":
    main()
