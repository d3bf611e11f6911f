"""Checks against the machine a point runs on, made there: on this machine for
`--launcher local` (at submission: bad input exits 2), on the compute node for
`--launcher slurm` (inside the job, where a point that cannot run there is recorded
`skipped` with the reason) - a login node without a GPU, or with fewer cores than the
nodes, says nothing of what the nodes can run.

Inside a job, placement uses the job's CPUs on the node (`job_cpus`), never the task's
affinity: with `TaskPlugin=task/affinity` each Slurm task of a data-parallel job is
bound to its own CPUs, and the job's first task must still place every local rank.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Mapping

from suite.errors import UsageError
from suite.spec import PointSpec
from suite.topology import (Topology, core_list, format_cpu_list, online_cpus,
                            parse_cpu_list, rank_core_lists)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF = Path("/proc/self")


def check_local_machine(launcher: str, topo: Topology, device: str, threads: int,
                        ranks: int, mapping: str, ht: str, memory: str) -> None:
    """UsageError where this machine cannot run the sweep: only for `--launcher local`
    (a Slurm sweep's nodes are checked inside its jobs, `node_skip_reason`)."""
    if launcher != "local":
        return
    from suite.sweep import check_placement
    check_placement(topo, ht, memory)
    if device == "cuda":
        require_cuda()
    core_list(topo, threads, mapping, ht == "on")    # raises with the valid range
    rank_core_lists(topo, threads, ranks, mapping, ht == "on")


def require_cuda() -> None:
    """UsageError where this machine has no CUDA device (--device cuda, run here)."""
    from suite import _native
    if not _native.cuda_available():
        raise UsageError(f"--device cuda: {_native.cuda_unavailable_reason()} (valid here: "
                         f"cpu; from a login node without a GPU: --launcher slurm)")


def node_skip_reason(spec: PointSpec, topo: Topology) -> str | None:
    """Why a point cannot run on this node (recorded as `skipped`): its threads (x local
    ranks) beyond the job's cores here, or --device cuda on a node without CUDA."""
    where = f"node {socket.gethostname()}"
    if spec.device == "cuda":
        from suite import _native
        if not _native.cuda_available():
            return f"--device cuda: {_native.cuda_unavailable_reason()} on {where}"
    threads = spec.threads or topo.physical_cores
    try:
        rank_core_lists(topo, threads, spec.nproc_per_node, spec.mapping, spec.ht)
    except UsageError as e:
        return f"{e} on {where} (CPUs {format_cpu_list(_cpus(topo))} of this job)"
    return None


def _cpus(topo: Topology) -> list[int]:
    return sorted(c for core in topo.cores for c in core.cpus)


def job_cpus(exclusive: bool, env: Mapping[str, str] | None = None,
             proc: Path = PROC_SELF, cgroup_root: Path = CGROUP_ROOT) -> list[int]:
    """The CPUs this Slurm job may place its points on, on this node: its cpuset cgroup's
    (task/cgroup confines a job to its allocation; nothing outside it can be pinned to)
    and, unless the job owns the node, only those Slurm bound this node's tasks to
    (SLURM_CPU_BIND_LIST, task/affinity), which other jobs do not get; where neither is
    known, the node's online CPUs - never this task's affinity."""
    env = os.environ if env is None else env
    cpus = cpuset_cpus(proc, cgroup_root)
    if not exclusive:
        bound = bind_list_cpus(env)
        if bound:
            cpus = sorted(set(bound) & set(cpus)) if cpus else bound
    return cpus or online_cpus()


def bind_list_cpus(env: Mapping[str, str]) -> list[int]:
    """The union of this node's task bindings as Slurm lists them for the step
    (SLURM_CPU_BIND_LIST: "0x1,0x2" for mask_cpu, "0,1" for map_cpu); [] where unset."""
    kind, text = env.get("SLURM_CPU_BIND_TYPE", ""), env.get("SLURM_CPU_BIND_LIST", "")
    cpus: set[int] = set()
    for item in (x.strip() for x in text.split(",") if x.strip()):
        try:
            if "map" in kind and "mask" not in kind:
                cpus.add(int(item, 0))
            else:
                mask = int(item, 16)
                cpus.update(i for i in range(mask.bit_length()) if mask >> i & 1)
        except ValueError:
            return []
    return sorted(cpus)


def cpuset_cpus(proc: Path = PROC_SELF, cgroup_root: Path = CGROUP_ROOT) -> list[int]:
    """This process's cpuset cgroup CPUs (cgroup v1, else v2); [] where unreadable."""
    paths = []
    v1 = _read(proc / "cpuset")
    if v1:
        base = cgroup_root / "cpuset" / v1.lstrip("/")
        paths += [base / "cpuset.effective_cpus", base / "cpuset.cpus"]
    for line in (_read(proc / "cgroup") or "").splitlines():
        if line.startswith("0::"):
            base = cgroup_root / line[3:].lstrip("/")
            paths += [base / "cpuset.cpus.effective"]
    for path in paths:
        text = _read(path)
        if text:
            return parse_cpu_list(text)
    return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
