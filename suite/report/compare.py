"""Compare two runs point by point (`python -m suite compare RUN_A RUN_B`).

Points are matched by their full PointSpec. For a point measured in both runs the change is
the ratio of median step times B/A, worded "1.23x slower" / "1.10x faster" / "same", with the
two-sided Mann-Whitney U p-value on the raw samples (`suite.stats.compare_samples`). The
verdict is "regression" only when the change is significant (p < alpha) and B is at least
`min_effect` slower; "improvement" when significant and B at least `min_effect` faster (the
same factor the other way: A/B >= 1 + min_effect); "no significant change" otherwise.
Points stored in only one run, and points whose status changed (ok -> oom, error -> ok, ...),
are listed on their own. The summary is the geometric mean of the ratios per framework and
optimization (the right average for ratios: a 2x slowdown and a 2x speedup cancel out).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from suite import stats
from suite.report.tables import markdown_table
from suite.spec import Measurement, PointSpec
from suite.storage import load_measurements, read_run_info

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no significant change"
STATUS_CHANGE = "status changed"


def ratio_text(ratio: float) -> str:
    """B/A median ratio in words: "1.23x slower", "1.10x faster", or "same" (rounds to 1.00x)."""
    factor, word = (ratio, "slower") if ratio >= 1 else (1.0 / ratio, "faster")
    text = f"{factor:.2f}x"
    return "same" if text == "1.00x" else f"{text} {word}"


def _p_text(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _usable(m: Measurement) -> bool:
    """An ok point whose samples can be compared (positive, finite)."""
    if m.status != "ok" or not m.samples_ns:
        return False
    x = np.asarray(m.samples_ns, dtype=np.float64)
    return bool(np.all(np.isfinite(x)) and np.all(x > 0))


def _status(m: Measurement) -> str:
    return "ok" if _usable(m) else ("error" if m.status == "ok" else m.status)


@dataclass
class PointComparison:
    """One point present in both runs."""

    spec: PointSpec
    status_a: str
    status_b: str
    message_b: str = ""
    median_a_ms: float | None = None
    median_b_ms: float | None = None
    ratio: float | None = None          # median B / median A; > 1 means B is slower
    p_value: float | None = None
    verdict: str = NO_CHANGE

    @property
    def change_pct(self) -> float | None:
        """How much slower B is, in % (negative: faster)."""
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0

    def describe(self) -> str:
        if self.ratio is None:
            return f"{self.spec.label()}: {self.status_a} -> {self.status_b}"
        return (f"{self.spec.label()}: {ratio_text(self.ratio)} "
                f"(p={_p_text(self.p_value or 1.0)})")


def _compare_point(a: Measurement, b: Measurement, min_effect: float,
                   alpha: float) -> PointComparison:
    sa, sb = _status(a), _status(b)
    result = PointComparison(a.spec, sa, sb, message_b=b.message or "")
    if sa != "ok" or sb != "ok":
        result.verdict = STATUS_CHANGE if sa != sb else "not measured"
        return result
    ratio, p = stats.compare_samples(a.samples_ns, b.samples_ns)
    result.median_a_ms = float(np.median(a.samples_ns)) / stats.NS_PER_MS
    result.median_b_ms = float(np.median(b.samples_ns)) / stats.NS_PER_MS
    result.ratio, result.p_value = ratio, p
    if p < alpha and ratio >= 1.0 + min_effect:
        result.verdict = REGRESSION
    elif p < alpha and 1.0 / ratio >= 1.0 + min_effect:
        result.verdict = IMPROVEMENT
    return result


@dataclass
class Comparison:
    """Every point of two runs, matched; see the module docstring."""

    run_a: Path
    run_b: Path
    min_effect: float
    alpha: float
    matched: list[PointComparison] = field(default_factory=list)
    only_a: list[Measurement] = field(default_factory=list)
    only_b: list[Measurement] = field(default_factory=list)

    def measured(self) -> list[PointComparison]:
        """Points measured ok in both runs."""
        return [c for c in self.matched if c.ratio is not None]

    def status_changes(self) -> list[PointComparison]:
        return [c for c in self.matched if c.status_a != c.status_b]

    def regressions(self, threshold_pct: float, include_failures: bool = True
                    ) -> list[PointComparison]:
        """Significant slowdowns (p < alpha) of at least `threshold_pct` %; with
        `include_failures`, also points that were ok in A and fail in B (a CI gate should
        not pass because the benchmark stopped running)."""
        slow = [c for c in self.measured() if (c.p_value or 1.0) < self.alpha
                and (c.change_pct or 0.0) >= threshold_pct]
        broken = [c for c in self.status_changes() if c.status_a == "ok"]
        return slow + (broken if include_failures else [])

    def summary(self) -> pd.DataFrame:
        """Per task/framework/optimization: points, geometric mean of B/A, verdict counts."""
        rows = []
        groups: dict[tuple[str, str, str], list[PointComparison]] = {}
        for c in self.measured():
            groups.setdefault((c.spec.task, c.spec.framework, c.spec.optimization), []).append(c)
        for (task, framework, opt), items in sorted(groups.items()):
            gm = stats.geometric_mean([c.ratio for c in items if c.ratio])
            rows.append({"task": task, "framework": framework, "optimization": opt,
                         "points": len(items), "geometric mean": ratio_text(gm),
                         "ratio B/A": f"{gm:.4f}",
                         "regressions": sum(c.verdict == REGRESSION for c in items),
                         "improvements": sum(c.verdict == IMPROVEMENT for c in items)})
        return pd.DataFrame(rows, columns=["task", "framework", "optimization", "points",
                                           "geometric mean", "ratio B/A", "regressions",
                                           "improvements"])

    def render(self) -> str:
        """The comparison as Markdown: summary, per-point table, status changes, one-sided."""
        parts = [f"# Comparison: {self.run_b.name} (B) against {self.run_a.name} (A)\n",
                 f"- A: {self.run_a}\n- B: {self.run_b}\n"
                 f"- change = median step time B / A; significant when the Mann-Whitney U "
                 f"p-value < {self.alpha:g}; a regression or improvement needs at least "
                 f"{self.min_effect * 100:g}% as well\n"]
        parts += _section("Summary (geometric mean of the ratios of medians)", self.summary())
        parts += _section("Points measured in both runs", _points_table(self.measured()))
        parts += _section("Status changes", _status_table(self.status_changes()))
        parts += _section("Only in A", _one_sided(self.only_a))
        parts += _section("Only in B", _one_sided(self.only_b))
        return "\n".join(parts)


NUMERIC_COLUMNS = ("points", "ratio B/A", "regressions", "improvements", "A median [ms]",
                   "B median [ms]", "p-value")


def _section(title: str, table: pd.DataFrame) -> list[str]:
    """A heading and the table (numbers right-aligned, words left), or "none"."""
    align = ["r" if c in NUMERIC_COLUMNS else "l" for c in table.columns]
    body = markdown_table(table, align) if not table.empty else "none\n"
    return [f"## {title}\n", body]


def _points_table(items: list[PointComparison]) -> pd.DataFrame:
    rows = [{"point": c.spec.label(), "A median [ms]": f"{c.median_a_ms:.3f}",
             "B median [ms]": f"{c.median_b_ms:.3f}", "change": ratio_text(c.ratio or 1.0),
             "p-value": _p_text(c.p_value if c.p_value is not None else 1.0),
             "verdict": c.verdict} for c in items]
    return pd.DataFrame(rows, columns=["point", "A median [ms]", "B median [ms]", "change",
                                       "p-value", "verdict"])


def _status_table(items: list[PointComparison]) -> pd.DataFrame:
    rows = [{"point": c.spec.label(), "A": c.status_a, "B": c.status_b,
             "message (B)": c.message_b[:200]} for c in items]
    return pd.DataFrame(rows, columns=["point", "A", "B", "message (B)"])


def _one_sided(items: list[Measurement]) -> pd.DataFrame:
    rows = [{"point": m.spec.label(), "status": m.status} for m in items]
    return pd.DataFrame(rows, columns=["point", "status"])


def compare_runs(run_a: Path, run_b: Path, min_effect: float = 0.05,
                 alpha: float = 0.05) -> Comparison:
    """Match the points of two run folders and compare them (UsageError if unreadable)."""
    for run in (run_a, run_b):
        read_run_info(Path(run))
    a = {m.spec.key(): m for m in load_measurements(Path(run_a))}
    b = {m.spec.key(): m for m in load_measurements(Path(run_b))}
    result = Comparison(Path(run_a), Path(run_b), min_effect, alpha)
    for key in sorted(a.keys() & b.keys(), key=lambda k: a[k].spec):
        result.matched.append(_compare_point(a[key], b[key], min_effect, alpha))
    result.only_a = sorted((a[k] for k in a.keys() - b.keys()), key=lambda m: m.spec)
    result.only_b = sorted((b[k] for k in b.keys() - a.keys()), key=lambda m: m.spec)
    return result

