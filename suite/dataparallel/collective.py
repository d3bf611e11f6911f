"""The collective timer and the combination of a data-parallel point's ranks.

Every rank runs the ordinary measurement loop (suite.measure.run_loop). Its decisions
(warm-up steady, stop, budget) come from the samples its timer returns, so the timer here
returns, for every step, the slowest rank's time (gathered from all ranks after each
chunk of steps): all ranks see the same samples, take the same decisions and run the same
number of steps, which a synchronous all-reduce in every step requires. Each rank's own
step times are kept as well; the stored point has the slowest rank's (the one whose timed
time is largest), so throughput = Σ items over ranks / the slowest rank's timed time.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from suite import stats
from suite.spec import Measurement, PointSpec
from suite.timing import Step, Timed, Timer

Gather = Callable[[list[int]], list[list[int]]]


class CollectiveTimer:
    """A timer whose samples are the same on every rank: per step, the slowest rank's."""

    def __init__(self, inner: Timer, all_gather: Gather) -> None:
        self._inner = inner
        self._gather = all_gather
        self._step_ns: float | None = None      # slowest rank's last step time, all ranks
        self.own_ns: list[int] = []              # this rank's own step times, in order

    def now_ns(self) -> int:
        return self._inner.now_ns()

    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed:
        """`iterations` steps, or fewer once the budget is spent: the steps run in chunks
        sized from the last step time, and the budget is judged on the gathered times, so
        every rank stops after the same step."""
        blocks: list[np.ndarray] = []
        done = spent = 0
        while done < iterations and not (budget_ns and spent >= budget_ns):
            n = iterations - done
            if budget_ns and self._step_ns:
                n = min(n, max(1, math.ceil((budget_ns - spent) / self._step_ns)))
            own = [int(v) for v in self._inner.run(step, n).host_ns]
            self.own_ns.extend(own)
            slowest = np.max(np.asarray(self._gather(own), dtype=np.int64), axis=0)
            blocks.append(slowest)
            done += n
            spent += int(slowest.sum())
            self._step_ns = float(slowest.mean())
        return Timed(np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64))


def combine_ranks(spec: PointSpec, records: list[dict[str, Any]], precision: float,
                  min_iterations: int = 10) -> Measurement:
    """One measurement from every rank's record (see `suite.dataparallel.rank`)."""
    records = sorted(records, key=lambda r: r["rank"])
    rank_samples = [list(r["samples_ns"]) for r in records]
    times = stats.rank_times_s(rank_samples)
    slowest = int(np.argmax(times))
    first = records[0]
    memory: dict[str, float] = {}
    for r in records:
        for key, value in r["memory"].items():
            memory[key] = max(memory.get(key, value), value)
    memory["all_ranks_peak_rss_mib"] = sum(r["memory"].get("peak_rss_mib", 0.0) for r in records)
    keep = ("rank", "local_rank", "host", "pid", "cores", "observed_cpus", "threads",
            "omp_num_threads", "cold_start_ns", "build_s", "memory")
    m = Measurement(
        spec=spec, samples_ns=rank_samples[slowest], rank_samples_ns=rank_samples,
        items_per_step=spec.batch_size * len(records), flops_per_item=first["flops_per_item"],
        cold_start_ns=max(int(r["cold_start_ns"]) for r in records),
        warmup_iterations=int(first["warmup_iterations"]), memory=memory,
        placement={"rank_cores": [r["cores"] for r in records],
                   "hosts": sorted({r["host"] for r in records})},
        meta={"world_size": len(records), "backend": first["backend"],
              "stop_reason": first["stop_reason"], "warmup_steady": first["warmup_steady"],
              "param_count": first["param_count"], "slowest_rank": slowest,
              "rank_times_s": times, **straggler(records, rank_samples),
              "ranks": [{k: r[k] for k in keep if k in r} for r in records]})
    summary = stats.point_summary(m)
    m.summary = summary.to_dict()
    m.precision_reached = stats.meets_precision(summary, precision, min_iterations)
    m.message = "" if m.precision_reached else \
        f"precision ±{precision:.1%} not reached ({first['stop_reason']})"
    return m


def straggler(records: list[dict[str, Any]], rank_samples: list[list[int]]) -> dict[str, Any]:
    """The straggler ratio and what it is from: each rank's compute steps (run without the
    all-reduce after the timed loop, `suite.dataparallel.rank`), else, for records without
    them, the timed steps, which include the all-reduce's wait (about 1.00 by construction)."""
    compute = [r.get("compute_ns") or [] for r in records]
    if all(compute):
        return {"straggler_ratio": stats.compute_straggler_ratio(compute),
                "straggler_basis": "each rank's compute steps without the all-reduce",
                "rank_compute_ms": [float(np.median(c)) / 1e6 for c in compute]}
    return {"straggler_ratio": stats.straggler_ratio(rank_samples),
            "straggler_basis": "timed steps (they include the all-reduce's wait)"}


def failed_point(spec: PointSpec, failures: dict[int, str]) -> Measurement:
    """The point of a data-parallel run in which ranks failed: the first failed rank's
    message (an out-of-memory in any rank makes it `oom`)."""
    rank, message = min(failures.items())
    others = f" ({len(failures) - 1} other rank(s) failed too)" if len(failures) > 1 else ""
    oom = any(("OutOfMemory" in t or "MemoryError" in t) for t in failures.values())
    m = Measurement(spec, status="oom" if oom else "error",
                    message=f"rank {rank} failed: {message}{others}")
    m.meta["failed_ranks"] = {str(k): v for k, v in sorted(failures.items())}
    return m
