"""Worker process: runs benchmark points of one framework under one CPU placement.

Protocol (JSON lines): the runner writes an ``init`` message, the worker pins itself,
configures threads, imports the framework and answers ``ready``; then each ``point``
message is answered by one ``measurement``. The protocol uses a private copy of the
original stdout; fd 1 is pointed at stderr so framework chatter never corrupts it.
A ``serve_load`` message instead turns the worker into a serving instance
(`suite.serving.instance`), answering one batch per request.
An out-of-memory ends the worker after its measurement is sent (the process state is
not trusted afterwards).

Test-only fault hook: DLBENCH_FAULT="crash|hang|alloc[@model[:batch]]" makes the worker
crash (SIGSEGV), hang, or allocate memory until stopped, at the matching point.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Nothing here may import numpy (or anything that starts threads) at module level: the
# worker pins itself first, so every thread a library starts inherits the placement.
from suite.spec import Measurement, PointSpec

if TYPE_CHECKING:
    from suite.energy import IdleBaseline, Meter

# shared with the data-parallel ranks and the serving instances (suite.workerlib)
from suite.workerlib import (FAULT_ENV, MIB, GPU_SAMPLER_INTERVAL_US,  # noqa: F401
                             WorkerState, apply_placement, build_runnable, fault_for,
                             inject_fault, memory_figures, observed_cpus, protocol_channel,
                             release_freed_memory, sampled_loop, sampler_interval_us,
                             send, send_ready, synthetic_inputs, worker_state)


def process_started() -> float:
    """When this process started, on the time.perf_counter() clock (/proc's start time, to
    a clock tick: 10 ms); now where that is unreadable."""
    now = time.perf_counter()
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age_s = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - min(max(age_s, 0.0), 3600.0)


def run_point(adapter: Any, spec: PointSpec, settings: dict[str, Any],
              state: WorkerState = WorkerState(), started: float | None = None) -> Measurement:
    """Build, measure and describe one point; failures become statuses, never exceptions.
    `started` (perf_counter; default now) is where the point's set-up began: the process's
    start for a worker's first point, the point's message for a later one (`setup_s`)."""
    from frameworks.base import OutOfMemory, describe
    m = Measurement(spec=spec, items_per_step=spec.batch_size)
    started = time.perf_counter() if started is None else started
    release_freed_memory()  # nothing an earlier point freed counts towards this one
    try:
        if (fault := fault_for(spec)):
            inject_fault(fault)
        _measure_into(m, adapter, spec, settings, state, started)
    except (OutOfMemory, MemoryError) as e:
        m.status, m.message = "oom", describe(e)
    except Exception as e:  # noqa: BLE001 - any failure of one point is data
        traceback.print_exc(file=sys.stderr)
        m.status, m.message = "error", describe(e)
    if m.status != "ok":
        m.samples_ns, m.device_samples_ns = [], None
        m.window_ns = m.window_steps = None
    return m


def make_timer(runnable: Any, cuda: bool) -> tuple[Any, str | None]:
    """The point's timer and, on a GPU, how its device time is taken (`meta["device_timing"]`).

    "cuda-events": events on the framework's stream around each step, steps in windows
    with one synchronisation each. "host-sync": the host clock around each step and the
    framework's device synchronisation, for a framework that exposes no stream; events on
    stream 0 would not be ordered with work on its non-blocking streams.
    """
    from suite.timing import CudaEventTimer, NativeTimer
    stream = runnable.stream_handle() if cuda else None
    if stream == 0:
        # 0 is the legacy default stream: events there are not ordered with work on a
        # framework's non-blocking streams. Quietly timing by the host instead hid exactly
        # this for PyTorch once; an adapter says None when it has no stream to offer.
        raise RuntimeError("the adapter gave CUDA stream 0 (the legacy default stream) to "
                           "record events on; it must give its own stream, or None")
    if stream:
        return CudaEventTimer(stream, runnable.synchronize), "cuda-events"
    return NativeTimer(sync=runnable.synchronize), "host-sync" if cuda else None


def _measure_into(m: Measurement, adapter: Any, spec: PointSpec, cfg: dict[str, Any],
                  state: WorkerState, started: float) -> None:
    from suite import stats
    from suite.energy import open_meter, point_energy
    from suite.models import counts, zoo
    from suite.models.imported import register_model_files

    register_model_files(cfg.get("model_files"))   # --model-file: the run's own models
    model = zoo.get_model(spec.model, spec.input_size)
    m.flops_per_item = counts.flops_per_item(model, spec.task)
    t0 = time.perf_counter()
    setup: dict[str, Any] = {}
    runnable = build_runnable(adapter, model, spec, cfg, setup=setup)
    del model  # the runnable keeps what it needs of the IR
    release_freed_memory()
    m.meta["build_s"] = time.perf_counter() - t0
    cuda = spec.device == "cuda"
    timer, device_timing = make_timer(runnable, cuda)
    if device_timing:
        m.meta["device_timing"] = device_timing
    meter = open_meter(spec.device)
    idle = _idle_baseline(meter, runnable, cfg)
    from suite.timing import BlockStarts
    clock, loop_started = BlockStarts(timer), time.perf_counter()
    loop, mem, interval_us = sampled_loop(runnable.step, clock, spec.batch_size, cfg, state,
                                          cuda, 0 if cuda else -1,
                                          meter if meter.available else None)
    first_timed = clock.first_timed(loop.warmup_iterations)
    if first_timed is not None:   # from the start to the first timed step (see run_point)
        m.meta["setup_s"] = round(first_timed - started, 4)
        setup["warmup_s"] = round(first_timed - loop_started, 4)
    m.meta["setup"] = setup
    m.energy = point_energy(meter, loop.energy_joules, loop.energy_seconds,
                            len(loop.samples_ns) * spec.batch_size, idle)
    m.samples_ns, m.device_samples_ns = loop.samples_ns, loop.device_samples_ns
    m.window_ns, m.window_steps = loop.window_ns, loop.window_steps
    m.cold_start_ns, m.warmup_iterations = loop.cold_start_ns, loop.warmup_iterations
    m.precision_reached = loop.precision_reached
    m.meta.update(stop_reason=loop.stop_reason, warmup_steady=loop.warmup_steady,
                  sampler_samples=mem["samples"], sampler_interval_us=interval_us,
                  peak_rss_source="VmHWM" if mem["peak_rss_from_kernel"] else "samples",
                  param_count=runnable.param_count())
    m.memory = memory_figures(mem, runnable.memory_mib(), state.idle_rss_bytes)
    if hasattr(runnable, "close"):   # frees the framework's cached device memory too
        runnable.close()
    m.summary = stats.point_summary(m).to_dict()   # a cache for readers; never the truth
    m.message = "" if loop.precision_reached else \
        f"precision ±{cfg['loop']['precision']:.1%} not reached ({loop.stop_reason})"


def _idle_baseline(meter: Meter, runnable: Any, cfg: dict[str, Any]) -> IdleBaseline | None:
    """The idle power just before the loop (`energy_idle_s` seconds, default 0.5; 0 turns it
    off), with the device synchronised first; nothing is spent where there is no meter."""
    from suite.energy import IdleBaseline, idle_baseline
    seconds = float(cfg.get("energy_idle_s", 0.5))
    if not meter.available:
        return None
    if seconds <= 0:
        return IdleBaseline(None, 0.0, "idle baseline off (energy_idle_s = 0)")
    runnable.synchronize()
    return idle_baseline(meter, seconds)


def configured_availability(adapter: Any, init: dict[str, Any]) -> Any:
    """Set the point's threads (before the framework's first import), then ask whether the
    framework is usable. A framework that cannot be imported fails in configure_threads
    already: it is unavailable with availability()'s reason and install command (its
    points are skipped), never a crashed worker."""
    from dataclasses import replace

    from frameworks.base import describe
    try:
        adapter.configure_threads(init.get("threads") or 0, init.get("interop_threads") or 1)
    except Exception as e:  # noqa: BLE001 - an unusable framework is data
        avail = adapter.availability()
        reason = avail.reason if not avail.ok else f"setting its threads failed: {describe(e)}"
        return replace(avail, ok=False, reason=reason)
    return adapter.availability()


def main() -> int:
    """Serve one runner over stdin / a private stdout until told to stop or stdin closes."""
    started = process_started()
    out, init = protocol_channel()
    placement = apply_placement(init)
    from frameworks import get_adapter
    adapter = get_adapter(init["framework"])
    avail = configured_availability(adapter, init)
    placement["observed_cpus"] = observed_cpus()
    send_ready(out, avail, placement)
    if not avail.ok:
        return 0
    state = worker_state(placement, started, time.perf_counter() - started)
    first = True
    for line in sys.stdin:
        received = time.perf_counter()
        msg = json.loads(line)
        if "serve_load" in msg:   # a serving instance from here on (suite.serving)
            from suite.serving.instance import serve_loop
            serve_loop(adapter, msg["serve_load"], sys.stdin, out, placement)
            break
        if "point" not in msg:
            break
        spec = PointSpec.from_dict(msg["point"]["spec"])
        m = run_point(adapter, spec, msg["point"]["settings"], state,
                      started if first else received)
        if first and "setup" in m.meta:   # the process's start to `ready`: its imports
            m.meta["setup"]["ready_s"] = round(state.ready_s, 4)
        first = False
        m.placement = dict(placement, observed_cpus=observed_cpus())
        m.meta.update(framework_version=avail.version, worker_pid=os.getpid())
        send(out, "measurement", m.to_record())
        if m.status == "oom" or (m.status == "error" and spec.device != "cpu"):
            break   # the process state is not trusted (suite.runner.worker_is_spent)
    return 0


if __name__ == "__main__":
    code = main()
    # Every result has been sent and the runner waits for this process to end: skip the
    # interpreter's teardown of the frameworks' modules (0.45 s for torch, per process).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
