"""Does the memory sampler slow a timed step? Step time with the sampler off and on, interleaved.

The process pins itself to the measured cores first, as a worker does (so the sampler's
thread shares them unless it is given a spare core), then the adapter builds each model
once. Each round times a block of `--iterations` steps (suite._native.time_calls, the
worker's loop) with the sampler off and with each sampler setting on, the order rotating
from round to round so that drift hits every setting alike. Printed per model and setting:
the quiet blocks kept, the median over them of the mean ms per step and its ratio on / off
(1.00 = no cost), the fastest block and its ratio, the samples the sampler took per second
and the CPU time its thread used as a share of the measured cores' time (its direct cost;
its wake-ups also preempt a compute thread and evict its cache lines).

Blocks during which other processes used more than --max-foreign of the measured cores'
time are left out (benchmarks/_quiet.py), and rounds go on until every setting has
--repeats quiet blocks (at most --max-rounds rounds); the table says how many it kept.

A setting is `<interval_us>` or `<interval_us>:spare` (the sampler thread pinned to a core
outside the measured set, when the machine has one).

    python benchmarks/sampler_overhead.py             # resnet18, resnet50 bs 8 @224, 2 threads
    python benchmarks/sampler_overhead.py --models resnet18 --image-size 112 --repeats 5
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
from typing import Any, Callable

import numpy as np
from _quiet import Block

from suite.worker import apply_placement, synthetic_inputs

OFF = "off"


def parse_setting(text: str) -> tuple[int, bool]:
    """"1000" -> (1000, False); "100000:spare" -> (100000, True)."""
    interval, _, where = text.partition(":")
    if where not in ("", "spare"):
        raise ValueError(f"sampler setting {text!r}: expected <interval_us>[:spare]")
    return int(interval), where == "spare"


def spare_cpus(measured: list[int]) -> list[int]:
    """The CPUs this process may use that are not measured ones."""
    return sorted(set(os.sched_getaffinity(0)) - set(measured))


def block(native: Any, step: Callable[[], object], sync: Callable[[], object],
          iterations: int, setting: str, spare: list[int],
          cores: int) -> tuple[float, float, float]:
    """(mean ms per step, samples per second, sampler CPU share of the measured cores) of
    one block under `setting`."""
    if setting == OFF:
        samples = native.time_calls(step, iterations, 0, sync)
        return float(np.mean(samples)) / 1e6, 0.0, 0.0
    interval_us, on_spare = parse_setting(setting)
    sampler = native.MemorySampler(interval_us, -1, spare if on_spare else [])
    sampler.start()
    samples = native.time_calls(step, iterations, 0, sync)
    r = sampler.stop()
    return (float(np.mean(samples)) / 1e6, r["samples"] / (r["elapsed_ns"] / 1e9),
            r["thread_cpu_ns"] / (r["elapsed_ns"] * cores))


def measure_model(adapter: Any, model_name: str, args: argparse.Namespace,
                  cores: list[int], spare: list[int]) -> dict[str, tuple[float, ...]]:
    """Per setting: medians over its quiet blocks of (ms per step, samples per second, CPU
    share), the fastest quiet block's ms per step, and the number of quiet blocks."""
    from frameworks.base import BuildRequest
    from suite import _native
    from suite.models import zoo
    from suite.models.weights import make_weights
    model = zoo.get_model(model_name, args.image_size)
    runnable = adapter.build(BuildRequest(model, make_weights(model, 0), "infer", args.opt,
                                          args.batch))
    inputs, _ = synthetic_inputs(model, args.batch, 0)
    runnable.set_inputs(inputs)
    del inputs
    gc.collect()
    settings = [OFF] + args.settings.split(",")
    _native.time_calls(runnable.step, args.warmup, 0, runnable.synchronize)
    quiet: dict[str, list[tuple[float, float, float]]] = {s: [] for s in settings}
    for r in range(args.max_rounds):
        if min(len(v) for v in quiet.values()) >= args.repeats:
            break
        for setting in settings[r % len(settings):] + settings[:r % len(settings)]:
            with Block(cores) as b:
                figures = block(_native, runnable.step, runnable.synchronize,
                                args.iterations, setting, spare, args.threads)
            if b.foreign_share <= args.max_foreign:
                quiet[setting].append(figures)
    return {s: _summary(quiet[s]) for s in settings}


def _summary(blocks: list[tuple[float, float, float]]) -> tuple[float, ...]:
    if not blocks:
        return (float("nan"),) * 4 + (0,)
    return tuple(statistics.median(column) for column in zip(*blocks)) \
        + (min(b[0] for b in blocks), len(blocks))


def print_rows(model: str, results: dict[str, tuple[float, ...]]) -> None:
    off_ms, _, _, off_min_ms, _ = results[OFF]
    for setting, (step_ms, per_s, cpu_share, min_ms, kept) in results.items():
        print(f"{model:<10} {setting:<14} {kept:>5} {step_ms:>10.2f} {step_ms / off_ms:>8.4f} "
              f"{min_ms:>10.2f} {min_ms / off_min_ms:>8.4f} {per_s:>10.1f} "
              f"{cpu_share:>10.4%}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--framework", default="pytorch")
    p.add_argument("--opt", default="none")
    p.add_argument("--models", default="resnet18,resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads = measured cores")
    p.add_argument("--settings", default="1000,100000",
                   help="sampler settings compared with off, comma-separated: "
                        "<interval_us>[:spare]")
    p.add_argument("--iterations", type=int, default=10, help="steps per block")
    p.add_argument("--repeats", type=int, default=7, help="quiet blocks wanted per setting")
    p.add_argument("--max-rounds", type=int, default=40, help="rounds at most")
    p.add_argument("--max-foreign", type=float, default=0.02,
                   help="largest share of the measured cores others may use in a kept block")
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    cores = sorted(os.sched_getaffinity(0))[:args.threads]
    spare = spare_cpus(cores)[-1:]           # read before pinning narrows the affinity
    apply_placement({"cores": cores})        # before the framework starts any thread
    from frameworks import get_adapter
    adapter = get_adapter(args.framework)
    adapter.configure_threads(args.threads, 1)
    avail = adapter.availability()
    if not avail.ok:
        raise SystemExit(f"{args.framework}: {avail.reason} ({avail.install})")
    print(f"# {args.framework} {avail.version} {args.opt}, infer bs {args.batch} "
          f"@{args.image_size}, {args.threads} threads on cores {cores}; spare cores: "
          f"{spare or 'none'}; blocks of {args.iterations} steps, {args.repeats} quiet ones "
          f"per setting wanted")
    print(f"{'model':<10} {'sampler':<14} {'kept':>5} {'median ms':>10} {'on/off':>8} "
          f"{'min ms':>10} {'on/off':>8} {'samples/s':>10} {'CPU share':>10}")
    for name in args.models.split(","):
        print_rows(name, measure_model(adapter, name, args, cores, spare))
        gc.collect()


if __name__ == "__main__":
    main()
