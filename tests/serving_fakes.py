"""A fake serving system for tests that need neither a framework nor LoadGen: each LoadGen
test becomes a deterministic point whose LoadGen records are written as LoadGen writes
them (`result_*` keys, its verdict and reasons through `suite.serving.loadgen.verdict`).

The system's capacity is CAPACITY_PER_INSTANCE samples/s per instance. Beyond it the
harness's own p99 stays low while LoadGen's (from its scheduled issue times) breaks the
bound: only a test of "within the bound" that asks LoadGen sees it. `FakeSystem` stands in
for `Session.measure`, records which specs it measured, and can stop (Ctrl-C) at a given
test or make the recommended configuration break the bound when it is verified.
"""
from __future__ import annotations

import dataclasses

from suite.serving.loadgen import LoadSettings, verdict
from suite.serving.verdict import stage_repeat
from suite.spec import Measurement, PointSpec

CAPACITY_PER_INSTANCE = 400.0
P50_MS, P99_MS, LOADGEN_P99_MS, OVERLOAD_LOADGEN_P99_MS = 4.0, 10.0, 12.0, 500.0


def records(p50_ms: float, p99_ms: float, achieved: float, scheduled: float,
            target_ms: float | None, scenario: str) -> dict:
    """LoadGen's detail-log records for a test with these figures."""
    met = target_ms is None or p99_ms <= target_ms
    out = {"result_50.00_percentile_latency_ns": int(p50_ms * 1e6),
           "result_90.00_percentile_latency_ns": int(p50_ms * 1e6),
           "result_99.00_percentile_latency_ns": int(p99_ms * 1e6),
           "result_99.90_percentile_latency_ns": int(p99_ms * 1e6),
           "result_validity": "INVALID", "result_min_duration_met": True,
           "result_min_queries_met": True, "early_stopping_met": False,
           "early_stopping_result": " * Run unsuccessful. * Processed 100 queries."}
    if scenario == "server":
        out.update(result_perf_constraints_met=met, effective_target_latency_ns=int(target_ms * 1e6),
                   result_completed_samples_per_sec=achieved,
                   result_scheduled_samples_per_sec=scheduled)
    elif scenario == "offline":
        out["result_samples_per_second"] = achieved
    return out


def point(spec: PointSpec, load: LoadSettings, p50_ms: float, p99_ms: float,
          loadgen_p99_ms: float, achieved: float) -> Measurement:
    """An ok serving point: 90 queries at p50, 10 at p99 (so its p99 is `p99_ms`)."""
    m = Measurement(spec, items_per_step=1)
    m.samples_ns = [int(p50_ms * 1e6)] * 90 + [int(p99_ms * 1e6)] * 10
    rec = records(p50_ms, loadgen_p99_ms, achieved, load.target_qps,
                  load.p99_ms if spec.scenario == "server" else None, spec.scenario)
    valid, reasons = verdict(rec)
    m.meta.update(load=dataclasses.asdict(load), loadgen=rec, valid=valid,
                  invalid_reasons=reasons)
    m.message = "LoadGen INVALID: " + "; ".join(reasons)
    return m


class FakeSystem:
    """`Session.measure` of a fake system (install with monkeypatch.setattr(Session,
    "measure", fake.measure_method())). `stop_at`: raise KeyboardInterrupt instead of
    measuring the test with this 1-based number; `break_verified`: the instance count
    whose verification tests at the goal's rate break the bound (LoadGen's constraint)."""

    def __init__(self, stop_at: int | None = None, break_verified: int | None = None) -> None:
        self.stop_at, self.break_verified = stop_at, break_verified
        self.measured: list[PointSpec] = []

    def measure(self, spec: PointSpec, load: LoadSettings) -> Measurement:
        if self.stop_at is not None and len(self.measured) + 1 == self.stop_at:
            raise KeyboardInterrupt
        self.measured.append(spec)
        capacity = CAPACITY_PER_INSTANCE * spec.instances
        if spec.scenario == "multistream":
            ms = 20.0 / spec.instances
            return point(spec, load, ms, ms * 1.5, ms * 1.5, 0.0)
        if spec.scenario == "offline":
            return point(spec, load, 50.0, 90.0, 90.0, capacity)
        broken = spec.target_qps > capacity or (
            spec.instances == self.break_verified and stage_repeat(spec.stage) is not None
            and load.target_qps <= capacity)
        return point(spec, load, P50_MS, P99_MS,
                     OVERLOAD_LOADGEN_P99_MS if broken else LOADGEN_P99_MS,
                     min(spec.target_qps, capacity * 1.2))

    def measure_method(self):
        fake = self

        def measure(session, spec: PointSpec, load: LoadSettings) -> Measurement:
            return fake.measure(spec, load)
        return measure
