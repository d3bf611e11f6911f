"""A serving point's figures, derived from its raw per-query latencies (pure functions,
no framework, no LoadGen): p50/p90/p99/p99.9 with their 95% CIs, achieved QPS, and
LoadGen's own percentiles and verdict as stored beside them.

Two clocks: the harness times each query from its arrival at the system under test to
its completion; LoadGen times it from its scheduled issue to its completion, and its
VALID/INVALID verdict and latency constraint come from its own figures. Whether a Server
point held a p99 bound (`bound_check`) therefore asks LoadGen first."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from suite import stats
from suite.spec import Measurement

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile_name(p: float) -> str:
    """50 -> "p50_ms", 99.9 -> "p99_9_ms"."""
    return "p" + f"{p:g}".replace(".", "_") + "_ms"


def latency_figures(latencies_ns: Sequence[float]) -> dict[str, float]:
    """Each percentile in ms with its 95% CI (`*_low`, `*_high`; a bound too few queries
    support is open, +-inf), the mean and the count; percentiles by
    `stats.PERCENTILE_METHOD`, CIs by `stats.percentile_ci`."""
    x = np.asarray(latencies_ns, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("no positive latencies")
    out: dict[str, float] = {"queries": int(x.size), "mean_ms": float(x.mean()) / stats.NS_PER_MS}
    for p in PERCENTILES:
        name = percentile_name(p)
        low, high = stats.percentile_ci(x, p)
        out[name] = float(np.percentile(x, p)) / stats.NS_PER_MS
        out[name + "_low"], out[name + "_high"] = low / stats.NS_PER_MS, high / stats.NS_PER_MS
    return out


def achieved_qps(m: Measurement) -> float:
    """Samples completed per second as LoadGen reports it (Server: completed samples over
    the test; Offline: samples per second; SingleStream: queries per second with its
    overhead); MultiStream, for which LoadGen reports no rate, issues each query when the
    previous one completes: samples per query / mean query latency. NaN where unknown."""
    records = m.meta.get("loadgen") or {}
    for key in ("result_completed_samples_per_sec", "result_samples_per_second",
                "result_qps_with_loadgen_overhead"):
        if isinstance(records.get(key), (int, float)):
            return float(records[key])
    if m.spec.scenario == "multistream" and m.samples_ns:
        return m.spec.batch_size * stats.NS_PER_S / float(np.mean(m.samples_ns))
    return math.nan


def loadgen_percentiles(records: dict[str, Any]) -> dict[str, float]:
    """LoadGen's own percentiles in ms (`loadgen_p50_ms`, ...), from its detail log: the
    per-query ones where it has them (MultiStream, whose plain `result_NN.NN_percentile_
    latency_ns` are per sample, while the harness times a query to its last sample), else
    `result_NN.NN_percentile_latency_ns`; NaN where its log has neither."""
    out = {}
    for p in PERCENTILES:
        value = records.get(f"result_{p:.2f}_percentile_per_query_latency_ns",
                            records.get(f"result_{p:.2f}_percentile_latency_ns"))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        out["loadgen_" + percentile_name(p)] = \
            float(value) / stats.NS_PER_MS if number else math.nan
    return out


def serving_figures(m: Measurement) -> dict[str, Any]:
    """All figures of an ok serving point: the harness's latencies, LoadGen's, achieved
    QPS, validity and LoadGen's latency constraint (True, False, or None where it has none:
    only its Server scenario has one)."""
    figures: dict[str, Any] = dict(latency_figures(m.samples_ns))
    records = m.meta.get("loadgen") or {}
    figures.update(loadgen_percentiles(records))
    figures["achieved_qps"] = achieved_qps(m)
    figures["valid"] = bool(m.meta.get("valid"))
    figures["invalid_reasons"] = list(m.meta.get("invalid_reasons") or [])
    met = records.get("result_perf_constraints_met")
    figures["loadgen_constraint_met"] = met if isinstance(met, bool) else None
    return figures


def stored_figures(m: Measurement) -> dict[str, Any]:
    """`serving_figures` as a JSON record keeps it (an unknown figure is None, not NaN);
    a cache for readers, never the truth."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in serving_figures(m).items()}


def bound_check(m: Measurement, p99_ms: float, min_rate: float = 0.9) -> tuple[bool, str]:
    """Did an ok Server point keep its p99 within `p99_ms` while completing at least
    `min_rate` of the rate LoadGen scheduled (a SUT that falls behind has no steady p99)?
    (held, why not). LoadGen's verdict decides: where the bound is the test's own target
    latency, its `result_perf_constraints_met`; for another bound, LoadGen's p99; the
    harness's p99 must hold it too. The scheduled rate, not the offered one: a short
    test's Poisson schedule differs from the offered rate by chance (about ±10% for 100
    queries)."""
    if m.status != "ok" or not m.samples_ns:
        return False, f"{m.status}: {m.message}" if m.status != "ok" else "no queries"
    f = serving_figures(m)
    records = m.meta.get("loadgen") or {}
    target = records.get("effective_target_latency_ns")
    own_target = isinstance(target, (int, float)) and \
        math.isclose(float(target) / stats.NS_PER_MS, p99_ms, rel_tol=1e-9)
    why = []
    if own_target and f["loadgen_constraint_met"] is False:
        why.append(f"LoadGen: latency constraint not met (its p99 {f['loadgen_p99_ms']:.2f} ms)")
    elif not own_target and f["loadgen_p99_ms"] > p99_ms:
        why.append(f"LoadGen's p99 {f['loadgen_p99_ms']:.2f} ms over {p99_ms:g} ms")
    if f["p99_ms"] > p99_ms:
        why.append(f"p99 {f['p99_ms']:.2f} ms over {p99_ms:g} ms")
    scheduled = records.get("result_scheduled_samples_per_sec")
    rate = float(scheduled) if isinstance(scheduled, (int, float)) else m.spec.target_qps
    if rate and not f["achieved_qps"] >= min_rate * rate:
        why.append(f"fell behind: {f['achieved_qps']:.1f} of {rate:.1f} QPS scheduled")
    return not why, "; ".join(why)


def within_bound(m: Measurement, p99_ms: float, min_rate: float = 0.9) -> bool:
    """`bound_check`'s verdict alone: the one test of "within the bound" that the peak
    search, the tested peaks and `tune` share."""
    return bound_check(m, p99_ms, min_rate)[0]


def batch_summary(batches: Sequence[tuple[int, int, int, int]]) -> dict[str, Any]:
    """How the dynamic batcher batched: count, mean size, per instance, bucket sizes run,
    and the median compute time of a batch."""
    if not batches:
        return {"batches": 0}
    sizes = [n for _, n, _, _ in batches]
    per_instance: dict[int, int] = {}
    buckets: dict[int, int] = {}
    for i, _, bucket, _ in batches:
        per_instance[i] = per_instance.get(i, 0) + 1
        buckets[bucket] = buckets.get(bucket, 0) + 1
    return {"batches": len(batches), "mean_batch": float(np.mean(sizes)),
            "per_instance": {str(k): v for k, v in sorted(per_instance.items())},
            "buckets": {str(k): v for k, v in sorted(buckets.items())},
            "median_compute_ms": float(np.median([ns for *_, ns in batches])) / stats.NS_PER_MS}
