"""The profile worker: `python -m suite.profiling.worker`, one process per profiled point.

The runner/worker protocol of `suite.worker` (JSON lines over stdin and a private copy of
stdout): an `init` message (framework, threads, placement) answered by `ready`, then each
`point` message ({"spec", "settings"}) answered by one `profile` record
(`suite.profiling.breakdown`). The point's runnable is built exactly as the timed worker
builds it (`suite.workerlib.build_runnable`: same weights, inputs, threads, placement);
then it warms up, and runs windows of the same number of steps, unprofiled and profiled in
turn, starting and ending unprofiled (`rounds` profiled windows: U P U P U), so a drift of
the machine does not read as the profiler's cost. Before them, `profiler_warmup` profiled
windows whose records are thrown away (W): a profiler's first session in a process costs
far more than its later ones (TensorFlow's trace: +20-30% per step in the first window,
0-3% after one; `torch.profiler`'s schedule has a warm-up phase for the same reason), so
the record measures the profiler as it runs in steady state. A collector whose profiler
runs from the build (ONNX Runtime's) has one profiled window first, then its unprofiled
ones (its warm-up steps were profiled already).

Settings (`settings["profile"]`, defaults in `DEFAULTS`): `warmup_s` / `warmup_steps`, the
least warm-up; `window_s` / `min_steps` / `max_steps`, how long a window is; `rounds`, how
many profiled windows; `profiler_warmup`, how many profiled windows are thrown away first.
A failure of the profiler or of the build is the record `unavailable` with its reason:
the point's timing, measured by other processes, is unaffected.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from suite.spec import PointSpec
from suite.workerlib import (apply_placement, build_runnable, observed_cpus, protocol_channel,
                             point_messages, release_freed_memory, send, send_ready)

DEFAULTS = {"warmup_s": 1.0, "warmup_steps": 5, "train_warmup_steps": 20, "window_s": 1.0,
            "min_steps": 5, "max_steps": 400, "rounds": 2, "profiler_warmup": 3}


def timed_window(runnable: Any, steps: int) -> int:
    """Wall time (ns) of `steps` steps and the synchronisation after them."""
    t0 = time.perf_counter_ns()
    for _ in range(steps):
        runnable.step()
    runnable.synchronize()
    return time.perf_counter_ns() - t0


def warm_up(runnable: Any, settings: dict[str, Any], task: str) -> float:
    """Steps until both the least warm-up steps and seconds are done; the last steps' mean
    time in seconds (what a window's length is sized by). Each step is waited for: MXNet's
    `step()` only queues work, and a loop timed by the clock alone queued about a thousand
    ResNet-18 steps (6 minutes at 224 px) in its two seconds."""
    least = settings["train_warmup_steps"] if task == "train" else settings["warmup_steps"]
    started, done = time.perf_counter(), 0
    while done < least or time.perf_counter() - started < settings["warmup_s"]:
        runnable.step()
        runnable.synchronize()
        done += 1
    probe = max(1, min(5, done))
    return timed_window(runnable, probe) / probe / 1e9


def window_steps(step_s: float, settings: dict[str, Any]) -> int:
    """Steps per window: `window_s` of steps, within [min_steps, max_steps]."""
    wanted = math.ceil(settings["window_s"] / max(step_s, 1e-6))
    return int(min(settings["max_steps"], max(settings["min_steps"], wanted)))


def profile_runnable(runnable: Any, collector: Any, spec: PointSpec,
                     settings: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Warm up, then the windows (see the module docstring); the point's profile record."""
    from suite.profiling.breakdown import Windows, profile_record
    steps = window_steps(warm_up(runnable, settings, spec.task), settings)

    def profiled() -> tuple[int, list, str]:
        collector.start(runnable, workdir)
        wall_ns = timed_window(runnable, steps)
        ops, basis = collector.stop(runnable, steps)
        return wall_ns, ops, basis

    if not collector.profiled_first:
        for _ in range(int(settings.get("profiler_warmup", 0))):
            profiled()    # the profiler's first session: thrown away
    walls, ops, plain, basis = [], [], [], "host"
    rounds = 1 if collector.profiled_first else max(1, int(settings["rounds"]))
    for _ in range(rounds):
        if not collector.profiled_first:
            plain.append(timed_window(runnable, steps))
        wall_ns, window_ops, basis = profiled()
        walls.append(wall_ns)
        ops += window_ops
    plain += [timed_window(runnable, steps) for _ in range(2 if collector.profiled_first else 1)]
    record = profile_record(spec.framework, ops, Windows(steps, tuple(walls), tuple(plain)),
                            collector.profiler, basis)
    if collector.note:
        record["note"] = collector.note
    return record


def profile_point(adapter: Any, collector: Any, spec: PointSpec,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """One point's profile record; any failure is the record `unavailable`, never an
    exception."""
    from frameworks.base import describe
    from suite.models import zoo
    from suite.models.imported import register_model_files
    from suite.profiling.breakdown import unavailable
    if collector is None:
        return unavailable(f"dlbench has no profiler collector for {spec.framework}")
    options = dict(DEFAULTS, **(settings.get("profile") or {}))
    try:
        register_model_files(settings.get("model_files"))
        with tempfile.TemporaryDirectory(prefix="dlbench-profile-") as tmp:
            workdir = Path(tmp)
            model = zoo.get_model(spec.model, spec.input_size)
            runnable = build_runnable(adapter, model, spec, settings,
                                      **collector.build_options(workdir))
            del model
            release_freed_memory()
            record = profile_runnable(runnable, collector, spec, options, workdir)
            if hasattr(runnable, "close"):
                runnable.close()
            return record
    except Exception as e:  # noqa: BLE001 - a profiler that fails is data
        traceback.print_exc(file=sys.stderr)
        return unavailable(f"{collector.profiler} failed: {describe(e)}")


def main() -> int:
    """Serve one runner: ready, then a profile record per point message."""
    out, init = protocol_channel()
    placement = apply_placement(init)
    from frameworks import get_adapter
    from suite.profiling.collectors import collector_for
    from suite.worker import configured_availability
    collector = collector_for(init["framework"])
    if collector is not None:
        collector.prepare()     # before the framework's first import
    adapter = get_adapter(init["framework"])
    avail = configured_availability(adapter, init)
    send_ready(out, avail, dict(placement, observed_cpus=observed_cpus()))
    if not avail.ok:
        return 0
    for spec, settings in point_messages(sys.stdin):
        record = profile_point(adapter, collector, spec, settings)
        record.setdefault("meta", {}).update(framework_version=avail.version,
                                             worker_pid=os.getpid(), cores=init.get("cores"),
                                             profiler_cpu=init.get("profiler_cpu"))
        send(out, "profile", record)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)   # as suite.worker: skip the frameworks' teardown
