"""`tune`: recommend instances x threads x batch for a goal, and verify the choice.

1. Profile: every split of the cores (`topology.instance_shapes`: all cores used, no
   instance across NUMA nodes; plus one instance on all cores) with short LoadGen tests.
   Goal --batch B: a MultiStream test, one query of B samples split over the instances;
   goal --qps Q --p99 MS: per max-batch candidate, a Server test at Q (its p99) and an
   Offline test (its capacity).
2. Choose: the lowest median latency of a batch; or, among candidates whose p99 at Q held
   the bound, the highest capacity.
3. Verify: measure the choice and the baseline (one instance on all cores, its own best
   batch) with full-length tests - the batch latency, or a Server test at Q plus a peak
   search - in interleaved repeats (recommended, baseline, recommended, ...; each in
   fresh instances), so that the speedup gets a 95% CI from the per-repeat ratios and
   the machine's drift falls on both alike. Every test is a stored point; the verdict,
   and whether the recommendation met the goal, is derived from the verification points
   (`suite.serving.verdict.tune_verdict`).

A resumed tune (`--resume`) answers every finished test from the run folder: the profile
and the choice are derived again from the stored points, and the verification continues
at its first missing test.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.serving.figures import serving_figures, within_bound
from suite.serving.peak import find_peak
from suite.serving.serve import Log, Recorder, ServeConfig, session
from suite.serving.verdict import (stage_repeat, tune_verdict, verdict_sentences,
                                   verify_stage)
from suite.spec import Measurement
from suite.topology import Topology, instance_shapes

TUNE_FILE = "tune.json"
OFFLINE_BATCHES = 32
# repeats after the first start their peak search at the previous repeat's peak and step
# by this factor until the bound breaks (or holds), instead of doubling from 0.8 x capacity
REPEAT_GROWTH = 1.25


@dataclass
class TuneGoal:
    batch: int | None = None            # lowest latency of a batch of this many samples
    qps: float | None = None            # or: highest QPS with p99 <= p99_ms (profiled at qps)
    p99_ms: float = 100.0
    batches: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    profile_duration_s: float = 2.0
    peak_steps: int = 5
    repeats: int = 3                    # interleaved verification repeats of each arm

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Candidate:
    instances: int
    threads: int
    batch: int
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    capacity_qps: float = math.nan      # qps goal: Offline samples per second
    feasible: bool = False
    status: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        """As JSON records want it: an unmeasured figure is None, not NaN."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in dataclasses.asdict(self).items()}


def candidates_for(goal: TuneGoal, topo: Topology, ht: bool) -> list[tuple[int, int, int]]:
    """(instances, threads, batch) to profile; for a batch goal no more instances than
    samples (an idle instance cannot lower the latency)."""
    shapes = instance_shapes(topo, ht)
    if goal.batch:
        return [(k, t, goal.batch) for k, t in shapes if k <= goal.batch]
    return [(k, t, b) for k, t in shapes for b in goal.batches]


def choose(cands: list[Candidate], goal: TuneGoal) -> Candidate | None:
    """The best measured candidate for the goal (None when none qualifies)."""
    ok = [c for c in cands if c.status == "ok"]
    if goal.batch:
        return min(ok, key=lambda c: (c.p50_ms, c.p99_ms), default=None)
    feasible = [c for c in ok if c.feasible]
    return max(feasible, key=lambda c: (c.capacity_qps, -c.p99_ms), default=None)


def _profile(cfg: ServeConfig, goal: TuneGoal, topo: Topology, run_dir: Path,
             record: Recorder) -> list[Candidate]:
    short = dataclasses.replace(cfg, duration_s=goal.profile_duration_s,
                                min_queries=min(cfg.min_queries, 32))
    by_shape: dict[tuple[int, int], list[int]] = {}
    for k, t, b in candidates_for(goal, topo, cfg.ht):
        by_shape.setdefault((k, t), []).append(b)
    out = []
    for (k, t), batches in by_shape.items():
        s = session(short, cfg.spec(k, t, batch=max(batches), stage="profile"), topo, run_dir)
        try:
            for b in batches:
                out.append(_profile_one(short, goal, s, k, t, b, record))
        finally:
            s.close()
    return out


def _profile_one(cfg: ServeConfig, goal: TuneGoal, s: Any, k: int, t: int, b: int,
                 record: Recorder) -> Candidate:
    c = Candidate(k, t, b)
    if goal.batch:
        m = record.measure(s, cfg.spec(k, t, batch=b, stage="profile"),
                           cfg.load("multistream", 0, b))
    else:
        m = record.measure(s, cfg.spec(k, t, goal.qps, "profile", "server", b),
                           cfg.load("server", goal.qps))
        # LoadGen's Offline test issues expected rate x duration samples: at least
        # OFFLINE_BATCHES full batches per instance, so that its rate is a capacity
        expected = max(goal.qps, k * b * OFFLINE_BATCHES / cfg.duration_s)
        offline = record.measure(s, cfg.spec(k, t, expected, "profile", "offline", b),
                                 cfg.load("offline", expected))
        if offline.status == "ok":
            c.capacity_qps = serving_figures(offline)["achieved_qps"]
        c.feasible = within_bound(m, goal.p99_ms)
    c.status = m.status
    if m.status == "ok":
        f = serving_figures(m)
        c.p50_ms, c.p99_ms = f["p50_ms"], f["p99_ms"]
    return c


def _verify(cfg: ServeConfig, goal: TuneGoal, c: Candidate, roles: list[str], repeat: int,
            start_qps: float, topo: Topology, run_dir: Path, record: Recorder) -> float:
    """One repeat of the full-length tests of one configuration (fresh instances), marked
    with its roles, the repeat and the prediction; the peak QPS its search found (0 for
    the batch goal, or when no rate held)."""
    stage = verify_stage(repeat)
    meta = {"roles": roles, "predicted": c.to_dict(), "p99_bound_ms": goal.p99_ms,
            "repeat": repeat}
    s = session(cfg, cfg.spec(c.instances, c.threads, batch=c.batch, stage=stage),
                topo, run_dir)
    tested: dict[tuple[str, float], Measurement] = {}

    def measure(scenario: str, qps: float, at_goal: bool) -> Measurement:
        # a probe at the goal's rate is the goal's test (one spec, one point)
        if (scenario, qps) not in tested:
            spec = cfg.spec(c.instances, c.threads, qps, stage, scenario, c.batch)
            tested[scenario, qps] = record.measure(s, spec, cfg.load(scenario, qps, c.batch),
                                                   dict(meta, at_goal=at_goal))
        return tested[scenario, qps]

    try:
        if goal.batch:
            measure("multistream", 0.0, True)
            return 0.0
        measure("server", float(goal.qps), True)
        growth = 2.0 if repeat == 1 else REPEAT_GROWTH
        return find_peak(lambda q: measure("server", q, False), start_qps, goal.p99_ms,
                         goal.peak_steps, growth=growth).peak_qps
    finally:
        s.close()


def verify_order(best: Candidate, base: Candidate, repeats: int
                 ) -> list[tuple[int, Candidate, list[str]]]:
    """(repeat, configuration, roles) in the order measured: recommended, baseline,
    recommended, baseline, ... (one arm with both roles when they are the same)."""
    same = (base.instances, base.threads, base.batch) == \
        (best.instances, best.threads, best.batch)
    arms = [(best, ["recommended", "baseline"])] if same else \
        [(best, ["recommended"]), (base, ["baseline"])]
    return [(r, c, roles) for r in range(1, repeats + 1) for c, roles in arms]


def _verify_all(cfg: ServeConfig, goal: TuneGoal, best: Candidate, base: Candidate,
                topo: Topology, run_dir: Path, record: Recorder) -> None:
    """The interleaved repeats; each repeat's peak search starts at the previous one's."""
    start: dict[tuple[int, int, int], float] = {}
    for repeat, c, roles in verify_order(best, base, goal.repeats):
        shape = (c.instances, c.threads, c.batch)
        first = 0.8 * c.capacity_qps if c.capacity_qps > 0 else float(goal.qps or 0)
        peak = _verify(cfg, goal, c, roles, repeat, start.get(shape, first), topo,
                       run_dir, record)
        if peak > 0:
            start[shape] = peak


def _baseline(cands: list[Candidate], goal: TuneGoal, total: int, batch: int) -> Candidate:
    """One instance on all cores with its own best batch; where none met the goal, its
    lowest p99."""
    alone = [c for c in cands if c.instances == 1 and c.threads == total]
    return choose(alone, goal) or min((c for c in alone if c.status == "ok"),
                                      key=lambda c: c.p99_ms, default=None) \
        or Candidate(1, total, batch)


def run_tune(cfg: ServeConfig, goal: TuneGoal, topo: Topology, run_dir: Path,
             log: Log, done: dict[str, Measurement] | None = None,
             point_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Profile, choose, verify; the result is also written to tune.json. `done`: the
    finished points of a resumed run, answered from the run folder."""
    record = Recorder(run_dir, log, done, point_meta)
    cands = _profile(cfg, goal, topo, run_dir, record)
    best = choose(cands, goal)
    result: dict[str, Any] = {"goal_settings": goal.to_dict(),
                              "candidates": [c.to_dict() for c in cands]}
    if best is None:
        result.update(status="error", goal_met=False,
                      message="no candidate met the goal in profiling (see the profile "
                      "points)" if any(c.status == "ok" for c in cands)
                      else "every candidate failed (see the profile points)")
    else:
        total = topo.logical_cpus if cfg.ht else topo.physical_cores
        base = _baseline(cands, goal, total, best.batch)
        log(f"recommended {best.instances}x{best.threads} batch {best.batch}; verifying "
            f"against the baseline 1x{total} batch {base.batch}, {goal.repeats} interleaved "
            "repeats each")
        _verify_all(cfg, goal, best, base, topo, run_dir, record)
        failed = [m for m in record.points if stage_repeat(m.spec.stage)
                  and m.status != "ok"]
        result.update(tune_verdict(record.points) or {
            "status": "error", "goal_met": False,
            "message": "the verification failed: " + (
                f"{failed[0].status}: {failed[0].message}" if failed else "no point")})
    (run_dir / TUNE_FILE).write_text(json.dumps(_json_safe(result), indent=2, default=str,
                                                allow_nan=False))
    return result


def _json_safe(value: Any) -> Any:
    """`value` with every non-finite float as None (an open CI bound, an unmeasured
    figure): tune.json is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """What the console prints for a tune result: the verdict, then whether the goal was
    met ("goal not met: ..." makes `tune` exit 1)."""
    if result.get("status") != "ok":
        return [f"tune: {result.get('message', 'failed')}", "tune: goal not met"]
    return ["tune: " + line for line in verdict_sentences(result)]
