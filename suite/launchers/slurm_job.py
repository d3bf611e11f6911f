"""What a Slurm job of a sweep runs on its node (submitted by `suite.launchers.slurm`).

A job of single-process points runs them through the ordinary runner (fresh worker
processes, the JSON-lines protocol) with this node's topology (the job's CPUs on it,
`suite.launchers.node.job_cpus`, not the task's affinity), appending every point to the
shared run folder, tagged with this host's fingerprint - with the node's peak, measured
here once per node (`suite.launchers.node_peak`) - and the job's id. A point this node
cannot run (threads beyond its cores, --device cuda without CUDA: checked here, not on
the submitting machine) is stored `skipped` with the reason. A
data-parallel point runs as one Slurm task per rank (`--nnodes` nodes x
`--nproc-per-node` tasks): every task is one rank (suite.dataparallel.rank) with the
env:// variables taken from Slurm's, and rank 0 appends the point.

Only JSON-able payloads come in and go out. Test-only fault hook: DLBENCH_FAULT=
"jobexit[@model[:batch]]" makes the job exit with code 3 before it runs that point.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from suite.spec import Measurement, PointSpec

JOB_EXIT_FAULT = "jobexit"
JOB_EXIT_CODE = 3


def slurm_meta() -> dict[str, Any]:
    """This job's identity as Slurm gives it (job id, array task, node, partition)."""
    env = os.environ
    job_id = env.get("SLURM_JOB_ID", "")
    if env.get("SLURM_ARRAY_JOB_ID"):
        job_id = f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    return {"job_id": job_id, "node": env.get("SLURMD_NODENAME", ""),
            "nodes": env.get("SLURM_JOB_NODELIST", ""),
            "partition": env.get("SLURM_JOB_PARTITION", ""),
            "task": int(env.get("SLURM_PROCID", "0"))}


def run_job(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the job's points; returns (key, status) of each point this task stored."""
    from suite.workerlib import fault_for
    specs = [PointSpec.from_dict(d) for d in payload["specs"]]
    for spec in specs:
        if fault_for(spec) == JOB_EXIT_FAULT:
            os._exit(JOB_EXIT_CODE)
    if specs[0].world_size > 1:
        return _run_rank_task(payload, specs[0])
    return _run_points(payload, specs)


def job_options(payload: dict[str, Any], point_meta: dict[str, Any]) -> Any:
    """The runner's options of a job, from its payload (`SlurmLauncher._payload`)."""
    from suite.runner import RunOptions
    processes = payload.get("processes", 1)
    return RunOptions(settings=payload["settings"], timeout_s=payload["timeout_s"],
                      memory_limit_mib=payload.get("memory_limit_mib"),
                      oom_skip=payload.get("oom_skip", True),
                      worker_per_point=payload.get("worker_per_point", True),
                      processes=processes,
                      max_processes=payload.get("max_processes") or processes,
                      point_meta=point_meta)


def node_facts(payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """This node's topology (the job's CPUs on it) and its host fingerprint, with the
    node's peak for the sweep's points where the payload asks for one."""
    from suite.env import host_fingerprint
    from suite.host_peak import HOST_PEAK_KEY
    from suite.launchers.node import job_cpus
    from suite.launchers.node_peak import node_peak
    from suite.topology import read_topology
    topo = read_topology(cpus=job_cpus(bool(payload.get("exclusive", True))))
    host = host_fingerprint(topo)
    peak = node_peak(Path(payload["run_dir"]), topo, payload.get("peak") or {})
    if peak:
        host[HOST_PEAK_KEY] = peak
    return topo, host


def _skip_reason(spec: PointSpec, topo: Any) -> str | None:
    from suite.launchers.node import node_skip_reason
    from suite.sweep import unsupported_reason
    return unsupported_reason(spec, topo) or node_skip_reason(spec, topo)


def _run_points(payload: dict[str, Any], specs: list[PointSpec]) -> list[dict[str, Any]]:
    from suite.runner import Runner
    topo, host = node_facts(payload)
    opts = job_options(payload, {"host": host, "slurm": slurm_meta()})
    runner = Runner(Path(payload["run_dir"]), topo, opts, _Quiet(),
                    lambda s: _skip_reason(s, topo))
    return [_outcome(m) for m in runner.run(specs)]


def _run_rank_task(payload: dict[str, Any], spec: PointSpec) -> list[dict[str, Any]]:
    """One rank of a data-parallel point (this Slurm task); rank 0 stores the point.

    With `--processes N` the rank tasks measure the point N times, each in a process group
    of its own (a port of its own): srun starts the tasks once, so the N measurements share
    their processes, as the record's `meta["processes_note"]` says."""
    from submitit.helpers import TorchDistributedEnvironment
    from suite import storage
    from suite.dataparallel.rank import run_rank
    from suite.env import host_fingerprint
    from suite.launchers.node import job_cpus
    from suite.schedule import combined_point
    from suite.topology import rank_core_lists, read_topology, spare_cpus
    first = int(os.environ.get("SLURM_PROCID", "0")) == 0
    topo = read_topology(cpus=job_cpus(bool(payload.get("exclusive", True))))
    reason = _skip_reason(spec, topo)
    if reason:       # every rank sees it; the first stores it
        if not first:
            return []
        m = Measurement(spec, status="skipped", message=reason)
        m.meta.update(host=host_fingerprint(topo), slurm=slurm_meta())
        storage.append_measurement(Path(payload["run_dir"]), m)
        return [_outcome(m)]
    # RANK, LOCAL_RANK, WORLD_SIZE, MASTER_* from Slurm; each rank picks cuda:LOCAL_RANK
    dist_env = TorchDistributedEnvironment().export(set_cuda_visible_devices=False,
                                                    overwrite=True)
    ranks = rank_core_lists(topo, spec.threads or 1, spec.nproc_per_node, spec.mapping,
                            spec.ht)
    job = {"spec": spec.to_dict(), "settings": payload["settings"], "rank_cores": ranks,
           "sampler_cpus": spare_cpus(topo, [c for r in ranks for c in r]),
           "timeout_s": payload["timeout_s"]}
    processes = max(1, int(payload.get("processes", 1)))
    parts = []
    for index in range(processes):
        os.environ["MASTER_PORT"] = str(dist_env.master_port + index)
        record = run_rank(job)      # a failing rank raises: the job fails, srun ends it
        if record is not None:
            parts.append(Measurement.from_record(record))
    if not parts:
        return []
    m = combined_point(parts, payload["settings"])
    if processes > 1:
        m.meta["processes_note"] = (f"on Slurm the {processes} processes of a data-parallel "
                                    f"point are {processes} process groups in the same rank "
                                    f"tasks (srun starts them once)")
    # the node's peak after the ranks have run (none of them measures meanwhile)
    m.meta.update(host=node_facts(payload)[1], slurm=slurm_meta())
    storage.append_measurement(Path(payload["run_dir"]), m)
    return [_outcome(m)]


def _outcome(m: Measurement) -> dict[str, Any]:
    return {"key": m.spec.key(), "status": m.status}


class _Quiet:
    """The node's runner reports nothing: the submitting side follows the job states."""

    def start(self, total: int, resumed: int) -> None: ...
    def point_started(self, spec: PointSpec) -> None: ...
    def point_finished(self, m: Measurement) -> None: ...
    def finish(self, measurements: list[Measurement], run_dir: Path) -> None: ...
