"""Before a sweep starts: the peak its points are divided by, and what the sweep will cost.

The peak is measured in child processes (`suite.peak` on the CPU, `suite.gpu_peak` on a
GPU), so the runner imports no framework; the estimate (`suite.estimate`) guesses each
point's step time from its model's FLOPs and the peak that point's % of peak is of
(`suite.peak.point_peak_gflops`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from suite.blocks import CONTROL_ARM
from suite.spec import PointSpec
from suite.sweep import SweepConfig
from suite.topology import Topology, core_list


def measure_sweep_peak(cfg: SweepConfig, topo: Topology) -> dict[str, Any]:
    """The peak as stored in run.json: on --device cuda the GPU's per dtype; on the CPU the
    float32 limit at every thread count a point uses, pinned as its points are."""
    if cfg.device == "cuda":
        from suite.gpu_peak import measure_gpu_peak
        return measure_gpu_peak()
    from suite.peak import measure_peak
    return measure_peak(peak_thread_counts(cfg, topo),
                        lambda t: core_list(topo, t, cfg.mapping, cfg.ht == "on"))


def peak_thread_counts(cfg: SweepConfig, topo: Topology) -> list[int]:
    """The thread counts to measure the CPU peak at: each point's threads, and threads x
    ranks for data-parallel points (their GFLOP/s counts every rank of the node), as far
    as the machine's cores (logical ones with --ht on) reach (a Slurm sweep's threads may
    exceed the submitting machine's: its nodes measure their own peak)."""
    cores = topo.logical_cpus if cfg.ht == "on" else topo.physical_cores
    products = {t * n for t in cfg.threads for n in cfg.nproc_per_node}
    return sorted(c for c in set(cfg.threads) | products if c <= cores)


def sweep_estimate(cfg: SweepConfig, specs: list[PointSpec], peak: dict[str, Any] | None,
                   settings: dict[str, Any]) -> str:
    """The console line of what `specs` (the points that will run, control arms among
    them) cost under `settings`, in the sweep's schedule."""
    from suite.estimate import PointCost, estimate_sweep, estimate_text
    from suite.schedule import worker_key
    from suite.models import counts, zoo
    from suite.peak import point_peak_gflops
    models: dict[tuple[str, int], tuple[float, int]] = {}   # FLOPs per item, parameters
    points = []
    for s in specs:
        if (s.model, s.input_size) not in models:
            model = zoo.get_model(s.model, s.input_size)
            models[s.model, s.input_size] = (counts.flops_per_item(model, cfg.task),
                                             counts.params(model))
        flops, params = models[s.model, s.input_size]
        # a data-parallel point's FLOPs are every rank's, as is the peak it is divided by
        points.append(PointCost(flops * s.batch_size * s.world_size / 1e9,
                                point_peak_gflops(peak, s).gflops, s.batch_size,
                                params if cfg.task == "train" else 0, s.device))
    shared = cfg.schedule == "sequential" and not cfg.worker_per_point
    estimate = estimate_sweep(points, settings["loop"], cfg.processes, cfg.max_processes,
                              len({worker_key(s) for s in specs}) if shared else None)
    return estimate_text(dataclasses.replace(
        estimate, schedule=cfg.schedule,
        control_points=sum(s.arm == CONTROL_ARM for s in specs)))
