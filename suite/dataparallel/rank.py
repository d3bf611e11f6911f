"""One rank of a data-parallel training point.

Started by the agent through the backend's launcher (local ranks), or as one Slurm task
per rank (suite.launchers.slurm_job); either way torch.distributed's env:// variables say
who it is (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). The rank pins itself
to its own cores (`rank_cores[LOCAL_RANK]`, disjoint from the other ranks'), sets the
point's thread count explicitly (OMP_NUM_THREADS and the framework's setting: torchrun
would force 1 thread otherwise), joins the process group, builds the network with the
same weights as every rank and its own synthetic batch, wraps it data-parallel, and runs
the ordinary measurement loop with a collective timer. Rank 0 gathers every rank's record
and returns the point's measurement record; the other ranks return None.

After the timed loop each rank times a few steps without the all-reduce (the backend's
`local_only`): its own compute, from which the straggler ratio comes (the timed steps
include the all-reduce's wait, so they are the slowest rank's on every rank).

Test-only fault hooks: DLBENCH_FAULT_RANK=R makes rank R raise once it has joined;
DLBENCH_SLOW_RANK=R:MS makes rank R busy-wait MS milliseconds in every step.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Any

from suite.spec import PointSpec

FAULT_RANK_ENV = "DLBENCH_FAULT_RANK"
SLOW_RANK_ENV = "DLBENCH_SLOW_RANK"
COMPUTE_STEPS = 10      # steps without the all-reduce, per rank, after the timed loop


def run_rank(job: dict[str, Any]) -> dict[str, Any] | None:
    """Measure this rank's share of the point in `job` (spec, settings, rank_cores,
    sampler_cpus, timeout_s); rank 0 returns the combined measurement as a record."""
    from suite.dataparallel import backend
    from suite.dataparallel.collective import combine_ranks
    from suite.workerlib import apply_placement
    spec = PointSpec.from_dict(job["spec"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    threads = spec.threads or 1
    os.environ["OMP_NUM_THREADS"] = str(threads)     # before the framework starts its pool
    rank_cores = job.get("rank_cores") or []
    placement = apply_placement({"cores": rank_cores[local_rank] if rank_cores else None,
                                 "sampler_cpus": job.get("sampler_cpus") or []})
    from frameworks import get_adapter
    adapter = get_adapter(spec.framework)
    adapter.configure_threads(threads, spec.interop_threads)
    dp = backend(spec.framework)
    if dp is None:
        raise RuntimeError(f"{spec.framework} has no data-parallel backend")
    group = dp.join(spec.device, float(job.get("timeout_s", 600.0)))
    try:
        if os.environ.get(FAULT_RANK_ENV, "") == str(group.rank):
            raise RuntimeError(f"injected fault ({FAULT_RANK_ENV}) in rank {group.rank}")
        record = _measure(adapter, dp, group, spec, job["settings"], placement)
        records = group.gather(record)
    finally:
        group.close()
    if records is None:
        return None
    precision = float(job["settings"]["loop"].get("precision", 0.02))
    return combine_ranks(spec, records, precision).to_record()


def _measure(adapter: Any, dp: Any, group: Any, spec: PointSpec, cfg: dict[str, Any],
             placement: dict[str, Any]) -> dict[str, Any]:
    """This rank's record: its own step times, placement, threads and memory."""
    from suite.dataparallel.collective import CollectiveTimer
    from suite.models import counts, zoo
    from suite.models.imported import register_model_files
    from suite.timing import NativeTimer
    from suite.workerlib import sampled_loop, worker_state
    from suite.workerlib import (build_runnable, memory_figures, observed_cpus,
                                 release_freed_memory)
    state = worker_state(placement)
    register_model_files(cfg.get("model_files"))
    model = zoo.get_model(spec.model, spec.input_size)
    flops_per_item = 2.0 * counts.macs_per_item(model) * 3
    t0 = time.perf_counter()
    runnable = build_runnable(adapter, model, spec, cfg,
                              input_seed=[int(cfg.get("seed", 0)), group.rank])
    del model
    dp.wrap(runnable, group)
    release_freed_memory()
    build_s = time.perf_counter() - t0
    step = _slowed(runnable.step, group.rank)
    local = NativeTimer(sync=runnable.synchronize)
    timer = CollectiveTimer(local, group.all_gather_ints)
    loop, mem, interval_us = sampled_loop(step, timer, spec.batch_size * group.world_size,
                                          cfg, state, spec.device == "cuda",
                                          sampler_device(spec, group))
    with dp.local_only(runnable):
        compute_ns = [int(v) for v in local.run(step, COMPUTE_STEPS).host_ns]
    timed = len(loop.samples_ns)
    return {
        "rank": group.rank, "local_rank": group.local_rank, "host": socket.gethostname(),
        "pid": os.getpid(), "backend": group.backend, "cores": placement.get("cores"),
        "observed_cpus": observed_cpus(), "threads": dp.threads_in_use(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "samples_ns": timer.own_ns[len(timer.own_ns) - timed:],
        "cold_start_ns": timer.own_ns[0], "warmup_iterations": loop.warmup_iterations,
        "warmup_steady": loop.warmup_steady, "stop_reason": loop.stop_reason,
        "flops_per_item": flops_per_item, "param_count": runnable.param_count(),
        "build_s": build_s, "compute_ns": compute_ns,
        "memory": memory_figures(mem, runnable.memory_mib(), state.idle_rss_bytes)}


def sampler_device(spec: PointSpec, group: Any) -> int:
    """The device the rank's memory sampler reads: the rank's own GPU (its local rank, as
    the backend sets it), not GPU 0; -1 on the CPU."""
    return int(group.local_rank) if spec.device == "cuda" else -1


def _slowed(step: Any, rank: int) -> Any:
    """`step`, made slower by DLBENCH_SLOW_RANK=R:MS on rank R (tests); else unchanged."""
    target, _, ms = os.environ.get(SLOW_RANK_ENV, "").partition(":")
    if target != str(rank) or not ms:
        return step
    from suite import _native
    delay_ns = int(float(ms) * 1e6)

    def slow_step() -> None:
        _native.busy_wait_ns(delay_ns)
        step()
    return slow_step
