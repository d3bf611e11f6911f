"""What a worker process, a data-parallel rank and a serving instance share: the protocol's
channel and send, the placement, the per-process state and sampler interval, the inputs
and the runnable of a point, the memory figures, and the test-only fault hook. Nothing here may import numpy or a framework at module level: a worker pins itself
first, so every thread a library starts inherits the placement.

Test-only fault hook: DLBENCH_FAULT="crash|hang|alloc[@model[:batch]]" makes the process
crash (SIGSEGV), hang, or allocate memory until stopped, at the matching point.
"""
from __future__ import annotations

import ctypes
import functools
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path
from dataclasses import dataclass
from typing import IO, Any

from suite.spec import PointSpec

FAULT_ENV = "DLBENCH_FAULT"
MIB = 1 << 20


def send(out: IO[str], kind: str, payload: Any) -> None:
    """One JSON line of the runner/worker protocol."""
    out.write(json.dumps({kind: payload}, allow_nan=False) + "\n")
    out.flush()


def point_messages(lines: Any) -> Any:
    """(spec, settings) of each `point` message the runner sends, until one that is not a
    point (its `stop`) or the end of the stream."""
    for line in lines:
        msg = json.loads(line)
        if "point" not in msg:
            return
        yield PointSpec.from_dict(msg["point"]["spec"]), msg["point"]["settings"]


def send_ready(out: IO[str], avail: Any, placement: dict[str, Any]) -> None:
    """The `ready` answer to the runner's init: whether the framework is usable (with the
    reason and install command where not), its devices, and where this process runs."""
    send(out, "ready", {"ok": avail.ok, "version": avail.version, "reason": avail.reason,
                        "install": avail.install, "devices": list(avail.devices),
                        "device_reason": avail.device_reason, "placement": placement,
                        "pid": os.getpid()})


def observed_cpus() -> list[int]:
    """Union of the CPUs every thread of this process may run on (from /proc)."""
    from suite.topology import parse_cpu_list
    cpus: set[int] = set()
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    cpus.update(parse_cpu_list(line.split(":", 1)[1]))
        except OSError:
            continue  # a thread that ended meanwhile
    return sorted(cpus)


def fault_for(spec: PointSpec) -> str | None:
    """The test-only fault (DLBENCH_FAULT) that applies to `spec`, or None."""
    value = os.environ.get(FAULT_ENV, "")
    if not value:
        return None
    kind, _, target = value.partition("@")
    model, _, batch = target.partition(":")
    if model and model != spec.model:
        return None
    if batch and int(batch) != spec.batch_size:
        return None
    return kind


def inject_fault(kind: str) -> None:
    """Crash, hang or grow this process (DLBENCH_FAULT), for the runner's tests."""
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "hang":
        while True:
            time.sleep(3600)
    elif kind == "alloc":
        import numpy as np
        hog = []
        while True:  # grows until the runner's memory limit stops the worker
            block = np.ones(64 * MIB // 8)
            hog.append(block)
            time.sleep(0.01)


def synthetic_inputs(model, batch: int, seed: int | list[int]) -> tuple[dict, Any]:
    """Inputs (and labels for classifiers) drawn once from a fixed seed, as numpy arrays."""
    import numpy as np
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (batch,) + tuple(t.shape)
        if t.dtype.startswith("int"):
            inputs[t.name] = rng.integers(0, t.high or 2, size=shape, dtype=np.int64)
        else:
            inputs[t.name] = rng.standard_normal(shape, dtype=np.float32)
    labels = rng.integers(0, model.num_classes, size=(batch,), dtype=np.int64) \
        if model.num_classes else None
    return inputs, labels


def release_freed_memory() -> None:
    """Collect garbage, then return the heap's free pages to the OS (glibc malloc_trim).

    glibc keeps freed memory mapped, and after the first large free it serves big blocks
    from the heap instead of fresh mappings (its dynamic mmap threshold): without a trim
    the RSS of a point would count the weights and inputs freed before its loop, and what
    earlier points freed, instead of what the framework holds.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim   # glibc only; other C libraries lack it
    except (OSError, AttributeError):
        return None


def build_runnable(adapter: Any, model: Any, spec: PointSpec, cfg: dict[str, Any],
                   input_seed: int | list[int] | None = None,
                   setup: dict[str, Any] | None = None, profile_dir: str | None = None) -> Any:
    """The adapter's runnable with its inputs bound; the weights and the numpy inputs are
    this function's only references, so they are freed when it returns. `input_seed`
    (default: the weights' seed) draws other inputs, e.g. each data-parallel rank's own.
    The weights come through suite.weights_cache; `setup` gets their seconds and source.
    `profile_dir`: the profile worker's folder for a profiler switched on at build time."""
    from frameworks.base import BuildRequest
    from suite.weights_cache import point_weights
    seed = cfg.get("seed", 0)
    t0 = time.perf_counter()
    weights = point_weights(model, seed, cfg)
    if setup is not None:
        setup.update(weights_s=round(time.perf_counter() - t0, 4), weights_source=weights.source)
    runnable = adapter.build(BuildRequest(
        model=model, weights=weights.arrays, task=spec.task,
        optimization=spec.optimization, batch_size=spec.batch_size, device=spec.device,
        dtype=spec.dtype, lr=cfg["lr"], momentum=cfg["momentum"],
        weight_decay=cfg["weight_decay"], profile_dir=profile_dir))
    inputs, labels = synthetic_inputs(model, spec.batch_size,
                                      seed if input_seed is None else input_seed)
    runnable.set_inputs(inputs, labels if spec.task == "train" else None)
    return runnable


def memory_figures(mem: dict[str, Any], framework: dict[str, float],
                    idle_rss_bytes: int = 0) -> dict[str, float]:
    """The point's memory figures in MiB from the sampler's result and the framework's own.

    On a GPU: `process_device_mib`, the peak of this process's device memory (NVML per
    process; absent where NVML cannot attribute memory to the process, e.g. in a
    container's PID namespace, where it reports 0), beside `peak_device_mib`, the
    device-wide used memory; and the framework allocator's peaks as `framework_*`.
    """
    figures = {"peak_rss_mib": mem["peak_rss_bytes"] / MIB,
               "baseline_rss_mib": mem["baseline_rss_bytes"] / MIB}
    if idle_rss_bytes > 0:
        figures["framework_idle_rss_mib"] = idle_rss_bytes / MIB
    if mem.get("peak_device_bytes", -1) >= 0:
        figures["peak_device_mib"] = mem["peak_device_bytes"] / MIB
        figures["baseline_device_mib"] = mem["baseline_device_bytes"] / MIB
    if mem.get("peak_process_device_bytes", -1) > 0:
        figures["process_device_mib"] = mem["peak_process_device_bytes"] / MIB
        figures["baseline_process_device_mib"] = \
            max(0, mem["baseline_process_device_bytes"]) / MIB
    for key, value in framework.items():
        figures[key if key.startswith("framework_") else f"framework_{key}"] = float(value)
    return figures


# --- a worker process's start: its placement, its shared state, its channel ----------------

def apply_placement(init: dict[str, Any]) -> dict[str, Any]:
    """Pin to the core list and bind memory before any framework is imported; keep the
    memory sampler's CPUs that this process may use (read before pinning narrows that)."""
    from suite import _native
    allowed = os.sched_getaffinity(0)
    placement: dict[str, Any] = {
        "cores": init.get("cores"), "memory_node": None,
        "sampler_cpus": [c for c in init.get("sampler_cpus") or [] if c in allowed]}
    if init.get("cores"):
        _native.set_affinity(init["cores"])
        for task in Path("/proc/self/task").iterdir():  # threads started before us, if any
            try:
                os.sched_setaffinity(int(task.name), init["cores"])
            except (OSError, ValueError):
                continue  # the thread ended meanwhile
    node = init.get("memory_node")
    if node is not None:
        _native.set_membind([node])
        placement["memory_node"] = node
    return placement


@dataclass(frozen=True)
class WorkerState:
    """What every point of one worker shares, read once when the worker starts."""

    idle_rss_bytes: int = 0                 # RSS after the framework's import, before any build
    sampler_cpus: tuple[int, ...] = ()      # where the memory sampler's thread runs (() = inherit)
    kernel_peak: bool = False               # VmHWM can be reset: the kernel gives the RSS peak
    started: float | None = None            # the process's start (perf_counter clock) ...
    ready_s: float | None = None            # ... and its seconds to `ready` (imports), if known


GPU_SAMPLER_INTERVAL_US = 10_000


def sampler_interval_us(cfg: dict[str, Any], cuda: bool, kernel_peak: bool) -> int:
    """The sampling interval: the configured one, else 100 ms where the kernel tracks the
    RSS peak exactly, 1 ms where the samples are the RSS peak (no resettable VmHWM), and
    10 ms on a GPU.

    On a GPU each sample takes the driver's lock (cuMemGetInfo; NVML's process list every
    10 ms at most) while launch-bound steps want it. The frameworks' caching allocators
    keep what a step reserved until the point ends, so the device-wide peak lasts, and the
    last sample at stop() catches the rest: 10 ms loses no peak. On an H200 (ResNet-18,
    batch 1, 1.3 ms steps, 6 interleaved rounds; benchmarks/gpu_probes.py sampler-cost)
    the cost was below what the rounds resolve at 1, 10 and 50 ms alike (medians -1.2%,
    -0.8%, -0.9%; rounds scattered by up to 20%)."""
    if cfg.get("sampler_interval_us"):
        return int(cfg["sampler_interval_us"])
    if cuda:
        return GPU_SAMPLER_INTERVAL_US
    return 100_000 if kernel_peak else 1000


def worker_state(placement: dict[str, Any], started: float | None = None,
                 ready_s: float | None = None) -> WorkerState:
    """The state shared by the points; call after the framework's import, before any build."""
    from suite import _native
    release_freed_memory()
    return WorkerState(idle_rss_bytes=_native.rss_bytes(),
                       sampler_cpus=tuple(placement.get("sampler_cpus") or ()),
                       kernel_peak=_native.reset_peak_rss(), started=started, ready_s=ready_s)


def protocol_channel() -> tuple[IO[str], dict[str, Any]]:
    """The runner's channel and its first message (the init): a private copy of stdout for
    the JSON lines, with fd 1 and sys.stdout sent to stderr so that nothing a library
    prints can corrupt them."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out, json.loads(sys.stdin.readline())


def sampled_loop(step: Any, clock: Any, items_per_step: int, cfg: dict[str, Any],
                 state: WorkerState, cuda: bool, device_index: int,
                 meter: Any = None) -> tuple[Any, dict[str, Any], int]:
    """The measured loop (`suite.measure.run_loop`) under the native memory sampler, as a
    worker and a data-parallel rank both run it: (the loop's result, the sampler's figures,
    its interval in µs). `device_index`: the GPU the sampler reads (-1: none)."""
    from suite import _native
    from suite.measure import LoopSettings, run_loop
    interval_us = sampler_interval_us(cfg, cuda, state.kernel_peak)
    sampler = _native.MemorySampler(interval_us, device_index, list(state.sampler_cpus))
    sampler.start()
    loop = run_loop(step, clock, items_per_step, LoopSettings(**cfg["loop"]), meter)
    return loop, sampler.stop(), interval_us
