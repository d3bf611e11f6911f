"""One serving configuration (k instances x t threads, batching) measured under LoadGen:
the pool is started once and each LoadGen test on it becomes one stored point."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from suite.runner import RunOptions, WorkerFailure
from suite.serving.batcher import Batcher
from suite.serving.figures import batch_summary, stored_figures
from suite.serving.instance import buckets_for
from suite.serving.loadgen import LoadSettings, complete_queries, run_test, verdict
from suite.serving.pool import InstancePool
from suite.spec import Measurement, PointSpec
from suite.topology import Topology, instance_core_sets


def dispatch_batch(spec: PointSpec) -> int:
    """The largest batch one instance runs: a multistream query's share of its samples
    (split over the instances), else `--max-batch`; singlestream never batches."""
    if spec.scenario == "multistream":
        return math.ceil(spec.batch_size / spec.instances)
    return 1 if spec.scenario == "singlestream" else spec.batch_size


class Session:
    """A started pool for one configuration; `measure` runs one LoadGen test on it."""

    def __init__(self, spec: PointSpec, settings: dict[str, Any], topo: Topology,
                 run_dir: Path, opts: RunOptions, straddle: bool = False) -> None:
        self.spec, self.settings, self.topo = spec, settings, topo
        self.run_dir, self.opts = run_dir, opts
        self.core_sets = instance_core_sets(topo, spec.instances, spec.threads, spec.ht,
                                            straddle)
        self.pool: InstancePool | None = None
        self.tests = 0

    def _pool(self) -> InstancePool:
        if self.pool is None:
            self.pool = InstancePool(self.spec, self.settings, self.core_sets,
                                     buckets_for(dispatch_batch(self.spec)), self.topo,
                                     self.run_dir / "workers.log", self.opts)
        return self.pool

    def measure(self, spec: PointSpec, load: LoadSettings) -> Measurement:
        """One LoadGen test of `spec` (this session's configuration at one load); any
        failure becomes the point's status, and a failed pool is restarted next time."""
        m = Measurement(spec, items_per_step=1)
        m.placement = {"instances": [{"index": i, "cores": c}
                                     for i, c in enumerate(self.core_sets)],
                       "cores": sorted(c for cs in self.core_sets for c in cs)}
        m.meta["load"] = dataclasses.asdict(load)
        try:
            pool = self._pool()
            m.placement["instances"] = [i.to_dict() for i in pool.info]
            self._run(pool, spec, load, m)
        except WorkerFailure as e:
            m.status, m.message = e.status, e.message
        except RuntimeError as e:      # LoadGen wrote no log
            m.status, m.message = "error", str(e)
        if m.status != "ok":
            m.samples_ns = []
            self.close(kill=True)
        return m

    def _run(self, pool: InstancePool, spec: PointSpec, load: LoadSettings,
             m: Measurement) -> None:
        self.tests += 1
        batcher = Batcher(pool.run_batch, spec.instances, dispatch_batch(spec),
                          spec.batch_timeout_ms / 1000.0, complete_queries)
        log_dir = self.run_dir / "loadgen" / f"{_slug(spec)}-{self.tests}"
        try:
            records = run_test(load, batcher.issue, log_dir,
                               abort=lambda: batcher.abort("interrupted"))
        finally:
            batcher.stop()
        if batcher.failure is not None:
            raise batcher.failure
        latencies = batcher.query_latencies_ns if spec.scenario == "multistream" \
            else batcher.latencies_ns
        if not latencies:
            raise WorkerFailure("error", "LoadGen completed no query")
        valid, reasons = verdict(records)
        m.samples_ns = list(latencies)
        m.precision_reached = valid
        m.message = "" if valid else "LoadGen INVALID: " + "; ".join(reasons)
        m.meta.update(loadgen=records, valid=valid, invalid_reasons=reasons,
                      batching=batch_summary(batcher.batches),
                      loadgen_logs=str(log_dir.relative_to(self.run_dir)))
        m.summary = stored_figures(m)

    def close(self, kill: bool = False) -> None:
        if self.pool is not None:
            self.pool.close(kill=kill)
            self.pool = None


def _slug(spec: PointSpec) -> str:
    qps = f"-q{spec.target_qps:g}" if spec.target_qps else ""
    return (f"{spec.framework}-{spec.model}-{spec.scenario}-{spec.instances}x{spec.threads}"
            f"-b{spec.batch_size}{qps}" + (f"-{spec.stage}" if spec.stage else ""))
