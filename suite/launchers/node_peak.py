"""The peak of the compute node a Slurm job runs on: measured inside the job, once per
node, and stored with its points' host fingerprint (`suite.host_peak`).

A Slurm sweep's run.json holds the peak of the machine the sweep was submitted from (a
login node), which says nothing of the nodes. So the submitting side asks for the
sweep's peak (`peak_request`: every thread count x local ranks its CPU points use, or
the GPU's), and the first job on each node measures it there with `suite.peak` /
`suite.gpu_peak` - exactly as a local run measures its own - and keeps it in the run
folder (`slurm/peaks/<host>-cpu.json`, under a lock), where the node's later jobs find
it; a thread count not measured yet is added to it. A job's points carry the figure in
`meta["host"]["peak"]`, and every % of peak of those points is of it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from suite.spec import PointSpec
from suite.topology import Topology, core_list

PEAKS_DIR = ("slurm", "peaks")


def peak_request(specs: Sequence[PointSpec]) -> dict[str, Any]:
    """What the jobs of `specs` measure on their nodes: the CPU peak at each threads x
    local ranks (what `suite.peak.point_peak_gflops` divides by), pinned by the sweep's
    mapping, and/or the GPU's peak; {} for none."""
    cpu = [s for s in specs if s.device == "cpu" and s.threads]
    request: dict[str, Any] = {}
    if cpu:
        request.update(threads=sorted({s.threads * s.nproc_per_node for s in cpu}),
                       mapping=cpu[0].mapping, ht=all(s.ht for s in cpu))
    if any(s.device == "cuda" for s in specs):
        request["gpu"] = True
    return request


def node_peak(run_dir: Path, topo: Topology, request: dict[str, Any],
              measure_cpu: Callable[..., dict[str, Any]] | None = None,
              measure_gpu: Callable[[], dict[str, Any]] | None = None
              ) -> dict[str, Any] | None:
    """This node's peak for `request` (`peak_request`): read from the run folder where an
    earlier job on this node stored it, else measured here and stored; None for none.
    The measuring functions default to `suite.peak.measure_peak` and
    `suite.gpu_peak.measure_gpu_peak` (tests pass fakes)."""
    if not request:
        return None
    host = socket.gethostname()
    folder = Path(run_dir).joinpath(*PEAKS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    if request.get("gpu"):
        if measure_gpu is None:
            from suite.gpu_peak import measure_gpu_peak as measure_gpu
        return _once(folder / f"{host}-gpu.json", lambda kept: kept or dict(
            measure_gpu(), node=host))
    if measure_cpu is None:
        from suite.peak import measure_peak as measure_cpu
    ht = bool(request.get("ht"))
    cores = topo.logical_cpus if ht else topo.physical_cores
    counts = [int(t) for t in request.get("threads") or [] if 0 < int(t) <= cores]
    if not counts:          # no point of the sweep fits on this node: none is divided
        return None
    mapping = str(request.get("mapping") or "sequential")

    def measured(kept: dict[str, Any] | None) -> dict[str, Any]:
        tried = set((kept or {}).get("gflops_by_threads") or {}) | \
            set((kept or {}).get("errors") or {})
        missing = [t for t in counts if str(t) not in tried]
        if kept is not None and not missing:
            return kept
        fresh = measure_cpu(missing, lambda t: core_list(topo, t, mapping, ht))
        return merged(kept, dict(fresh, node=host))

    return _once(folder / f"{host}-cpu.json", measured)


def merged(kept: dict[str, Any] | None, fresh: dict[str, Any]) -> dict[str, Any]:
    """`fresh` with the thread counts `kept` has and `fresh` lacks (every per-count
    mapping, e.g. `gflops_by_threads`, `errors`, merged key by key)."""
    out = dict(fresh)
    for key, value in (kept or {}).items():
        if isinstance(value, dict) and isinstance(fresh.get(key), dict):
            out[key] = {**value, **fresh[key]}
        elif key not in fresh:
            out[key] = value
    return out


def _once(path: Path, update: Callable[[dict[str, Any] | None], dict[str, Any]]
          ) -> dict[str, Any]:
    """`update(kept)` under the file's lock (the node's other jobs wait), stored when it
    changed; `kept` is the stored record or None."""
    with _locked(path.with_name(path.name + ".lock")):
        try:
            kept = json.loads(path.read_text())
            kept = kept if isinstance(kept, dict) else None
        except (OSError, ValueError):
            kept = None
        record = update(kept)
        if record != kept:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
            os.replace(tmp, path)
        return record


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
