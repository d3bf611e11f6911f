"""`compare` for two serving runs (`serve`/`tune`): on what a serving point reports.

A serving point's figures are LoadGen's achieved QPS, the p99 latency (the harness's, with
its 95% CI, and LoadGen's) and LoadGen's validity, not items/s from a mean latency: queries
overlap, so 1 / latency is no rate. Per matching point (same spec: configuration,
scenario, batch, offered QPS, stage):

- a **regression** when B stops being VALID where A was, when B's p99 CI lies wholly above
  A's and B's p99 is at least `min_effect` higher, or when B's achieved QPS is at least
  `min_effect` below A's at the same offered load (each run is one LoadGen test: QPS has no
  CI, so only the minimum effect guards it, and the table says so);
- an **improvement** the same the other way round; otherwise no significant change.

A serve run is never compared with a train or infer run (`check_tasks`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from suite import stats
from suite.errors import UsageError
from suite.report.tables import markdown_table
from suite.serving.figures import serving_figures
from suite.spec import Measurement

SERVING_TASKS = ("serve",)
REGRESSION, IMPROVEMENT, SAME = "regression", "improvement", "no significant change"
COLUMNS = ["point", "A QPS", "B QPS", "QPS B/A", "A p99 ms", "B p99 ms", "A LoadGen",
           "B LoadGen", "verdict"]


def check_tasks(task_a: str, task_b: str) -> bool:
    """True when both runs are serving runs; UsageError when only one is."""
    a, b = task_a in SERVING_TASKS, task_b in SERVING_TASKS
    if a != b:
        raise UsageError(f"cannot compare a '{task_a}' run with a '{task_b}' run: serving points "
                         "report QPS and p99 under load, train/infer points time steps; "
                         "compare runs of the same kind")
    return a


@dataclass
class ServingRow:
    label: str
    a: dict
    b: dict
    verdict: str
    change_pct: float


def _label(m: Measurement) -> str:
    s = m.spec
    qps = f" at {s.target_qps:g} QPS" if s.target_qps else ""
    return (f"{s.model} {s.framework}/{s.optimization} {s.instances}x{s.threads} "
            f"{s.scenario} batch {s.batch_size}{qps}" + (f" {s.stage}" if s.stage else ""))


def _above(low_b: float, high_a: float) -> bool:
    """B's p99 CI wholly above A's (an open upper bound of A: never)."""
    return math.isfinite(high_a) and math.isfinite(low_b) and low_b > high_a


def judge(a: dict, b: dict, min_effect: float) -> tuple[str, float]:
    """(verdict, % change of the deciding figure) for one matching pair of figures."""
    if a["valid"] and not b["valid"]:
        return REGRESSION, math.nan
    if b["valid"] and not a["valid"]:
        return IMPROVEMENT, math.nan
    p99 = b["p99_ms"] / a["p99_ms"] - 1.0
    if p99 >= min_effect and _above(b["p99_ms_low"], a["p99_ms_high"]):
        return REGRESSION, 100 * p99
    if -p99 >= min_effect / (1 + min_effect) and _above(a["p99_ms_low"], b["p99_ms_high"]):
        return IMPROVEMENT, 100 * p99
    qa, qb = a["achieved_qps"], b["achieved_qps"]
    if math.isfinite(qa) and math.isfinite(qb) and qa > 0:
        if qb <= qa * (1 - min_effect):
            return REGRESSION, 100 * (qb / qa - 1)
        if qb >= qa * (1 + min_effect):
            return IMPROVEMENT, 100 * (qb / qa - 1)
    return SAME, 100 * p99


@dataclass
class ServingComparison:
    """Two serving runs matched point by point; `render` and `regressions` as `Comparison`."""

    run_a: Path
    run_b: Path
    min_effect: float
    rows: list[ServingRow] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def regressions(self, threshold_pct: float) -> list[ServingRow]:
        """Regressions of at least `threshold_pct` % (a lost VALID always counts)."""
        return [r for r in self.rows if r.verdict == REGRESSION
                and (math.isnan(r.change_pct) or abs(r.change_pct) >= threshold_pct)]

    def table(self) -> pd.DataFrame:
        cells = []
        for r in self.rows:
            ratio = r.b["achieved_qps"] / r.a["achieved_qps"] if r.a["achieved_qps"] else math.nan
            cells.append([r.label, f"{r.a['achieved_qps']:.1f}", f"{r.b['achieved_qps']:.1f}",
                          f"{ratio:.3f}",
                          stats.ci_text(r.a["p99_ms"], r.a["p99_ms_low"], r.a["p99_ms_high"]),
                          stats.ci_text(r.b["p99_ms"], r.b["p99_ms_low"], r.b["p99_ms_high"]),
                          "VALID" if r.a["valid"] else "INVALID",
                          "VALID" if r.b["valid"] else "INVALID", r.verdict])
        return pd.DataFrame(cells, columns=COLUMNS)

    def render(self) -> str:
        lines = [f"# Serving comparison: {self.run_b.name} (B) against {self.run_a.name} (A)",
                 "", f"- A: {self.run_a}", f"- B: {self.run_b}",
                 "- per point: LoadGen's achieved QPS (one test each: no CI), the harness's p99 "
                 "with its 95% CI ('≥ x': too few queries for an upper bound) and LoadGen's "
                 f"validity; a regression is a lost VALID, a p99 at least "
                 f"{self.min_effect:.0%} higher with the CIs apart, or QPS at least "
                 f"{self.min_effect:.0%} lower", ""]
        lines.append(markdown_table(self.table()) if self.rows
                     else "No point was measured ok in both runs.")
        if self.unmatched:
            lines += ["", "Not compared (in one run only, or not ok in both):", ""]
            lines += [f"- {u}" for u in self.unmatched]
        return "\n".join(lines) + "\n"


def compare_serving(run_a: Path, run_b: Path, points_a: list[Measurement],
                    points_b: list[Measurement], min_effect: float) -> ServingComparison:
    """Match two serving runs' points by spec and judge each pair."""
    result = ServingComparison(Path(run_a), Path(run_b), min_effect)
    a = {m.spec.key(): m for m in points_a}
    b = {m.spec.key(): m for m in points_b}
    for key in sorted(a.keys() | b.keys(), key=lambda k: (a.get(k) or b[k]).spec):
        ma, mb = a.get(key), b.get(key)
        if ma is None or mb is None or ma.status != "ok" or mb.status != "ok":
            m = ma or mb
            result.unmatched.append(f"{_label(m)}: A {ma.status if ma else 'absent'}, "
                                    f"B {mb.status if mb else 'absent'}")
            continue
        fa, fb = serving_figures(ma), serving_figures(mb)
        verdict, change = judge(fa, fb, min_effect)
        result.rows.append(ServingRow(_label(ma), fa, fb, verdict, change))
    return result
