"""One collector per framework: switch its profiler on and off around a window of steps
and report the self time of every op it saw (`breakdown.OpTime`).

Each collector imports its framework and profiler lazily, inside the profile worker
(`suite.profiling.worker`) only. Collectors name frameworks by design: reading four
profilers is exactly what they are for, and nothing outside this room does.

- pytorch: `torch.profiler.profile` around the window; per event its self CPU time (on a
  GPU its self device time: the kernels it launched), ops under `Optimizer.*` given the
  optimizer scope by walking each event's parents.
- onnx: `SessionOptions.enable_profiling` (switched on at build time through
  `BuildRequest.profile_dir`: ORT profiles a session from its creation), the JSON trace
  read after `end_profiling()`; the `_kernel_time` events inside the window's last
  `model_run` events, by their `op_name` (the node's op type). A session profiles from its
  build on, so its profiled window comes first and its unprofiled windows after.
- tensorflow: `tf.profiler.experimental` (see `suite.profiling.tf_ops`).
- mxnet: `mx.profiler` with aggregate statistics, its "operator" domain; symbolic and
  imperative ops only (memory and API events cost time and are not read). MXNet runs a
  hybridized network's ops in bulk segments, which its profiler sees as one entry named
  after all of them, so the profile worker turns bulk execution off before MXNet is
  imported (`MXNET_EXEC_BULK_EXEC_TRAIN/INFERENCE=0`, as MXNet's profiling guide says);
  its unprofiled windows run the same way, and the record says so.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from suite.profiling.breakdown import OpTime
from suite.profiling.classes import OPTIMIZER_SCOPE


class Collector(Protocol):
    framework: str
    profiler: str              # what the record's `profiler` says
    profiled_first: bool       # its profiler runs from the build: profiled window first

    def prepare(self) -> None:
        """Before the framework's first import (environment variables it reads then)."""

    def build_options(self, workdir: Path) -> dict[str, Any]:
        """Extra BuildRequest fields (ORT's profiling is switched on at build time)."""

    def start(self, runnable: Any, workdir: Path) -> None: ...

    def stop(self, runnable: Any, steps: int) -> tuple[list[OpTime], str]:
        """The op times of the window since start(), and their basis (host or device)."""


class CollectorDefaults:
    """What most collectors do before the window: nothing (`Collector`'s defaults)."""

    profiled_first = False
    note = ""

    def prepare(self) -> None:
        return None

    def build_options(self, workdir: Path) -> dict[str, Any]:
        return {}


class TorchCollector(CollectorDefaults):
    framework = "pytorch"
    profiler = "torch.profiler (self time per aten op)"

    def __init__(self) -> None:
        self._prof: Any = None
        self._cuda = False

    def start(self, runnable: Any, workdir: Path) -> None:
        from torch.profiler import ProfilerActivity, profile
        self._cuda = runnable.stream_handle() is not None
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self._cuda else [])
        self._prof = profile(activities=activities, record_shapes=False,
                             profile_memory=False, with_stack=False)
        self._prof.start()

    def stop(self, runnable: Any, steps: int) -> tuple[list[OpTime], str]:
        self._prof.stop()
        ops = []
        for event in self._prof.events():
            if str(getattr(event, "device_type", "")).endswith("CUDA"):
                continue   # a kernel: its time is its launching op's self device time
            self_us = event.self_device_time_total if self._cuda else event.self_cpu_time_total
            ops.append(OpTime(_torch_scope(event) + event.name, float(self_us), 1))
        return ops, "device" if self._cuda else "host"


def _torch_scope(event: Any) -> str:
    """OPTIMIZER_SCOPE for an op run inside the optimizer's step or zero_grad, else ""."""
    parent = getattr(event, "cpu_parent", None)
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return OPTIMIZER_SCOPE
        parent = getattr(parent, "cpu_parent", None)
    return ""


class OrtCollector(CollectorDefaults):
    framework = "onnx"
    profiler = "ONNX Runtime SessionOptions.enable_profiling (_kernel_time per node op type)"
    profiled_first = True

    def build_options(self, workdir: Path) -> dict[str, Any]:
        return {"profile_dir": str(workdir)}

    def start(self, runnable: Any, workdir: Path) -> None:
        return None   # profiling since the session's build: the window is picked in stop()

    def stop(self, runnable: Any, steps: int) -> tuple[list[OpTime], str]:
        path = runnable.session.end_profiling()
        events = json.loads(Path(path).read_text())
        return ort_kernel_times(events, steps), "host"


def ort_kernel_times(events: list[dict[str, Any]], steps: int) -> list[OpTime]:
    """The `_kernel_time` events inside the last `steps` `model_run` events of a trace."""
    runs = [e for e in events if e.get("name") == "model_run"][-steps:]
    if len(runs) < steps:
        raise RuntimeError(f"the ONNX Runtime trace holds {len(runs)} runs, not {steps}")
    start = min(e["ts"] for e in runs)
    end = max(e["ts"] + e["dur"] for e in runs)
    return [OpTime(str((e.get("args") or {}).get("op_name") or e["name"]), float(e["dur"]), 1)
            for e in events if e.get("cat") == "Node"
            and str(e.get("name", "")).endswith("_kernel_time")
            and start <= e["ts"] and e["ts"] + e["dur"] <= end]


MX_BULK_ENV = ("MXNET_EXEC_BULK_EXEC_TRAIN", "MXNET_EXEC_BULK_EXEC_INFERENCE")


class MXNetCollector(CollectorDefaults):
    framework = "mxnet"
    profiler = "mx.profiler aggregate statistics (operator domain)"
    note = "bulk execution off in the profile worker (MXNET_EXEC_BULK_EXEC_*=0)"

    def prepare(self) -> None:
        for name in MX_BULK_ENV:
            os.environ[name] = "0"

    def start(self, runnable: Any, workdir: Path) -> None:
        import mxnet as mx   # imported already by the adapter (numpy aliases set)
        mx.profiler.set_config(profile_symbolic=True, profile_imperative=True, profile_memory=False,
                               profile_api=False, aggregate_stats=True,
                               filename=str(workdir / "mxnet-profile.json"))
        mx.profiler.dumps(reset=True)   # nothing from before the window
        mx.profiler.set_state("run")

    def stop(self, runnable: Any, steps: int) -> tuple[list[OpTime], str]:
        import mxnet as mx
        mx.profiler.set_state("stop")
        stats = json.loads(mx.profiler.dumps(reset=True, format="json"))
        return mx_operator_times(stats), "host"


def mx_operator_times(stats: dict[str, Any]) -> list[OpTime]:
    """The "operator" domain of MXNet's aggregate statistics (milliseconds) as op times."""
    unit = (stats.get("Unit") or {}).get("Time", "ms")
    scale = {"ms": 1e3, "us": 1.0}.get(unit, 1e3)
    operators = (stats.get("Time") or {}).get("operator") or {}
    return [OpTime(name, float(v["Total"]) * scale, int(v.get("Count", 1)))
            for name, v in operators.items()]


def collector_for(framework: str) -> Collector | None:
    """The collector of a registry name, or None where dlbench has none."""
    if framework == "tensorflow":
        from suite.profiling.tf_ops import TensorFlowCollector
        return TensorFlowCollector()
    known = {"pytorch": TorchCollector, "onnx": OrtCollector, "mxnet": MXNetCollector}
    return known[framework]() if framework in known else None
