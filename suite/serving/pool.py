"""The runner side of k serving instances: `suite.worker` processes, each pinned to its own
disjoint core set (`suite.topology.instance_core_sets`), each holding the model.

Reuses the runner's `Worker` (its JSON-lines channel, memory limit and process-group
cleanup). A worker that dies, hangs or fails to build raises `WorkerFailure`, whose
status ("error", "timeout", "oom", "skipped") becomes the point's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.runner import (RunOptions, Worker, WorkerFailure, no_device_reason,
                          unavailable_reason)
from suite.spec import PointSpec
from suite.topology import Topology, memory_node

START_TIMEOUT_S = 600.0


@dataclass
class InstanceInfo:
    """Where one instance runs, as asked and as observed from /proc in the worker."""

    index: int
    cores: list[int]
    pid: int = 0
    observed_cpus: list[int] = field(default_factory=list)
    memory_node: int | None = None
    build_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "cores": self.cores, "pid": self.pid,
                "observed_cpus": self.observed_cpus, "memory_node": self.memory_node,
                "build_s": self.build_s}


class InstancePool:
    """k started, loaded and warmed instances; `run_batch(i, n)` is one batch on instance i.

    `opts.timeout_s` bounds each batch; starting and building an instance may take up to
    `start_timeout_s` (importing a framework on a busy machine is slow)."""

    def __init__(self, spec: PointSpec, settings: dict[str, Any], core_sets: list[list[int]],
                 buckets: list[int], topo: Topology, log_path: Path, opts: RunOptions,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.timeout_s = opts.timeout_s
        self.start_timeout_s = max(start_timeout_s, opts.timeout_s)
        self.workers: list[Worker] = []
        self.info: list[InstanceInfo] = []
        try:
            self._start(spec, core_sets, topo, log_path, opts)
            self._load(spec, settings, buckets)
        except BaseException:
            self.close(kill=True)
            raise

    def _start(self, spec: PointSpec, core_sets: list[list[int]], topo: Topology,
               log_path: Path, opts: RunOptions) -> None:
        for i, cores in enumerate(core_sets):   # all start at once; each imports on its cores
            node = memory_node(topo, cores, spec.memory) if len(topo.nodes) > 1 else None
            init = {"framework": spec.framework, "threads": spec.threads,
                    "interop_threads": spec.interop_threads, "cores": cores,
                    "memory_node": node, "sampler_cpus": []}
            self.workers.append(Worker(init, log_path, opts))
            self.info.append(InstanceInfo(i, cores, memory_node=node))
        for worker in self.workers:
            ready = worker.receive(self.start_timeout_s)["ready"]
            unavailable = unavailable_reason(spec, ready)
            if unavailable:
                raise WorkerFailure("skipped", unavailable)
            if spec.device not in ready["devices"]:
                raise WorkerFailure("skipped", no_device_reason(spec, ready))

    def _load(self, spec: PointSpec, settings: dict[str, Any], buckets: list[int]) -> None:
        for i, worker in enumerate(self.workers):
            worker.send({"serve_load": {"spec": spec.to_dict(), "settings": settings,
                                        "buckets": buckets, "instance": i}})
        for info, worker in zip(self.info, self.workers):
            ready = worker.receive(self.start_timeout_s)["serve_ready"]
            if not ready["ok"]:
                raise WorkerFailure("error", f"instance {info.index}: {ready['message']}")
            info.pid, info.build_s = ready["pid"], ready["build_s"]
            info.observed_cpus = ready["observed_cpus"]

    def run_batch(self, index: int, n: int) -> dict[str, Any]:
        """One batch of `n` samples on instance `index` (blocking): {n, bucket, compute_ns}."""
        worker = self.workers[index]
        worker.send({"serve_batch": {"n": n}})
        try:
            served = worker.receive(self.timeout_s)["served"]
        except WorkerFailure as e:
            raise WorkerFailure(e.status, f"instance {index} (cores "
                                          f"{self.info[index].cores}): {e.message}") from None
        if "error" in served:
            raise WorkerFailure("error", f"instance {index}: {served['error']}")
        return served

    def close(self, kill: bool = False) -> None:
        for worker in self.workers:
            worker.close(kill=kill)
        self.workers = []
