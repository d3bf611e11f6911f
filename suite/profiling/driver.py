"""Profile the points of a run: `--profile` after a `train` / `infer` sweep, and
`python -m suite profile RUN_DIR` for a finished run.

One profile worker process (`suite.profiling.worker`) per ok point, started like the
timed workers (`suite.runner.Worker`: its own process group, the memory limit, the
timeout, the point's cores and memory node), after the sweep, so no profiled process ever
runs beside a timed one. Each point's record is stored in points.jsonl under `profile` by
appending the point's newest record again with the profile added (the newest record of a
point wins, `suite.storage.load_measurements`; its samples and figures are the same), and
every profiled point's rows go to `profile.csv` (`breakdown.CSV_COLUMNS`).

A framework whose profiler is missing or fails, a worker that dies or hangs: that point's
profile is `{"status": "unavailable", "reason": ...}`; its timing is never touched.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, Callable

from suite import storage
from suite.errors import UsageError
from suite.profiling.breakdown import (CSV_COLUMNS, PROFILE_CSV, csv_rows, is_profiled,
                                       unavailable)
from suite.spec import Measurement, PointSpec
from suite.topology import Topology, core_list, memory_node, read_topology, spare_cpus

PROFILED_TASKS = ("train", "infer")
WORKER_MODULE = "suite.profiling.worker"


def check_profile_options(launcher: str, nproc_per_node: list[int], dry_run: bool = False
                          ) -> None:
    """Refuse a `--profile` that cannot run as asked (UsageError: one line, exit 2)."""
    if launcher != "local":
        raise UsageError(f"--profile runs its profiled workers on this machine after the "
                         f"sweep; it cannot be combined with --launcher {launcher} (profile "
                         f"the finished run where it ran: python -m suite profile RUN_DIR)")
    if any(n > 1 for n in nproc_per_node):
        raise UsageError("--profile profiles one process per point; it cannot be combined "
                         "with --nproc-per-node above 1 (data-parallel points)")
    if dry_run:
        raise UsageError("--profile with --dry-run: a dry run measures nothing, so there is "
                         "nothing to profile; leave one of them out")


def profile_settings(config: dict[str, Any], extra: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """The settings a profile worker builds with: the run's seed and optimizer settings
    (the same weights and inputs as its timed workers), and the profile's windows."""
    settings = {"lr": float(config.get("lr", 0.01)), "momentum": float(config.get("momentum", 0.9)),
                "weight_decay": float(config.get("weight_decay", 1e-4)),
                "seed": int(config.get("seed", 0))}
    settings.update(extra or {})
    return settings


def profilable(m: Measurement) -> bool:
    """An ok train or infer point of one process (profiles are of ok points only)."""
    return m.status == "ok" and m.spec.task in PROFILED_TASKS and m.spec.world_size == 1


def timed_step_ms(m: Measurement) -> float | None:
    """The point's own mean step time from its timed samples (what the profile's unprofiled
    step is held against), in ms."""
    from suite import stats
    samples = stats.timed_samples(m.samples_ns, m.device_samples_ns)[0]
    return round(sum(samples) / len(samples) / 1e6, 4) if len(samples) else None


def profile_points(run_dir: Path, topo: Topology | None = None,
                   settings: dict[str, Any] | None = None, timeout_s: float = 600.0,
                   memory_limit_mib: float | None = None,
                   progress: Callable[[str], None] | None = None) -> list[Measurement]:
    """Profile every profilable point of `run_dir` in its own worker, store each record
    (points.jsonl) and write profile.csv; returns the points with their profiles."""
    run_dir = Path(run_dir)
    info = storage.read_run_info(run_dir)
    topo = topo or read_topology()
    settings = settings or profile_settings(info.config)
    done = []
    for m in storage.load_measurements(run_dir):
        if not profilable(m):
            continue
        record = profile_one(run_dir, topo, m.spec, settings, timeout_s, memory_limit_mib)
        record["timed_step_ms"] = timed_step_ms(m)
        profiled = dataclasses.replace(m, profile=record)
        storage.append_measurement(run_dir, profiled)
        done.append(profiled)
        if progress is not None:
            progress(profile_line(profiled))
    write_profile_csv(run_dir)
    return done


def profile_line(m: Measurement) -> str:
    """One console line: the point and its profile's headline, or why there is none."""
    p = m.profile or {}
    if not is_profiled(p):
        return f"profile {m.spec.label()}: unavailable ({p.get('reason', '')})"
    return (f"profile {m.spec.label()}: {p['profiled_step_ms']:.4g} ms/step profiled, "
            f"{p['op_self_ms']:.4g} ms in ops, {p['overhead_ms']:.3g} ms overhead; "
            f"unprofiled {p['unprofiled_step_ms']:.4g} ms (profiler cost "
            f"{p['profiler_cost_pct']:+.1f}%)")


def profile_one(run_dir: Path, topo: Topology, spec: PointSpec, settings: dict[str, Any],
                timeout_s: float, memory_limit_mib: float | None) -> dict[str, Any]:
    """One point's profile record from a fresh profile worker; failures are records."""
    from suite.runner import RunOptions, Worker, WorkerFailure
    opts = RunOptions(settings=settings, timeout_s=timeout_s, memory_limit_mib=memory_limit_mib)
    try:
        worker = Worker(_init(topo, spec, timeout_s), run_dir / "workers.log", opts,
                        WORKER_MODULE)
    except OSError as e:
        return unavailable(f"the profile worker did not start: {e}")
    try:
        ready = worker.receive(timeout_s)["ready"]
        if not ready["ok"]:
            return unavailable(f"{spec.framework} unavailable: {ready['reason']}")
        if spec.device not in ready["devices"]:
            return unavailable(f"{spec.framework} has no {spec.device} device here: "
                               f"{ready.get('device_reason') or 'none found'}")
        worker.send({"point": {"spec": spec.to_dict(), "settings": settings}})
        return worker.receive(timeout_s)["profile"]
    except WorkerFailure as e:
        return unavailable(f"the profile worker failed ({e.status}): {e.message}")
    finally:
        worker.close(kill=True)


def _init(topo: Topology, spec: PointSpec, timeout_s: float) -> dict[str, Any]:
    """The worker's init: the point's threads, cores and memory node, as its timed worker's,
    plus one CPU for the profiler's own threads (Kineto's, TensorFlow's trace collector)
    where the machine has a core to spare (`spare_cpus`, as the memory sampler's): pinned
    to the op cores alone, torch.profiler cost ResNet-18 training +0-65% per window on one
    core, 0-3% with one more (docs/profiling.md). The frameworks' thread counts stay the
    point's."""
    threads = spec.threads or topo.physical_cores
    cores = core_list(topo, threads, spec.mapping, spec.ht)
    node = memory_node(topo, cores, spec.memory) if len(topo.nodes) > 1 \
        or spec.memory == "remote" else None
    spare = next(iter(spare_cpus(topo, cores)), None)
    return {"framework": spec.framework, "threads": spec.threads,
            "interop_threads": spec.interop_threads, "timeout_s": timeout_s,
            "cores": cores + ([spare] if spare is not None else []),
            "profiler_cpu": spare, "memory_node": node, "sampler_cpus": []}


def write_profile_csv(run_dir: Path, measurements: list[Measurement] | None = None) -> Path:
    """profile.csv of every point with a profile record (`breakdown.CSV_COLUMNS`)."""
    measurements = storage.load_measurements(run_dir) if measurements is None else measurements
    path = Path(run_dir) / PROFILE_CSV
    try:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for m in measurements:
                if m.profile:
                    writer.writerows(csv_rows(m.spec.to_dict(), m.profile))
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    return path
