"""Compare two runs point by point (`python -m suite compare RUN_A RUN_B`).

Runs from different machines (CPU model, core counts or GPUs differ in run.json's
fingerprint) are refused with a UsageError unless `allow_different_hosts`; the report
says which points ran on which host.

Points are matched by their full PointSpec. For a point measured in both runs the change is
the ratio of the time per item B/A — throughput A / throughput B, the figure the tables
show — worded "1.23x slower" / "1.10x faster" / "same". Its significance comes from a
two-sided Welch t-test on nearly independent figures (`suite.stats.compare_samples`): the
per-process mean step times when both points ran in several processes (`--processes`),
else the means of ~10 contiguous blocks of steps per run. Single steps are autocorrelated,
so a test on them would overstate significance; with one process per run the blocks still
cannot see process-to-process variation, which is what the minimum effect guards against.
The p-values of all compared points are Holm-corrected together (`suite.ratios.holm_adjust`:
with 30 points, an uncorrected 5% test calls one or two identical pairs different). The
verdict is "regression" only when the corrected p is below alpha and B is at least
`min_effect` slower; "improvement" when so and B at least `min_effect` faster (the same
factor the other way: A/B >= 1 + min_effect); "no significant change" otherwise. Each
point states its minimum detectable effect (`suite.ratios.mde_from_se`: the change its test
finds with 80% power at the level Holm leaves for it). When both runs hold paired framework
ratios (interleaved rounds), those are compared too (`suite.report.compare_ratios`). All
figures come from `suite.stats` (device samples where a point has them).
Points stored in only one run, and points whose status changed (ok -> oom, error -> ok, ...),
are listed on their own. The summary is the geometric mean of the ratios per framework and
optimization (the right average for ratios: a 2x slowdown and a 2x speedup cancel out).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from suite import ratios, stats
from suite.drift import compare_lines
from suite.errors import UsageError
from suite.report.compare_ratios import RatioChange, match_ratios, ratio_section
from suite.report.compare_profile import check_profiled, profile_section
from suite.report.compare_serving import ServingComparison, check_tasks, compare_serving
from suite.report.tables import markdown_table
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, load_measurements, read_run_info

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


def _timed(m: Measurement) -> list[int]:
    """The samples a point's figures come from (`stats.timed_samples`)."""
    return list(stats.timed_samples(m.samples_ns, m.device_samples_ns)[0])


def _usable(m: Measurement) -> bool:
    """An ok point whose samples can be compared (positive, finite)."""
    if m.status != "ok" or not m.samples_ns:
        return False
    x = np.asarray(_timed(m), dtype=np.float64)
    return bool(x.size and np.all(np.isfinite(x)) and np.all(x > 0))


def _status(m: Measurement) -> str:
    return "ok" if _usable(m) else ("error" if m.status == "ok" else m.status)


@dataclass
class PointComparison:
    """One point present in both runs."""

    spec: PointSpec
    status_a: str
    status_b: str
    message_b: str = ""
    summary_a: stats.Summary | None = None
    summary_b: stats.Summary | None = None
    ratio: float | None = None          # time per item B / A; > 1 means B is slower
    p_value: float | None = None
    tested: str = ""                    # what the test ran on: "10+10 blocks", "3+3 processes"
    verdict: str = NO_CHANGE
    p_holm: float | None = None         # p Holm-corrected over the compared points
    log_se: float = math.nan            # the test's standard error (log scale) and df,
    df: float = 0.0                     #   for the minimum detectable effect
    mde_pct: float = math.nan

    @property
    def change_pct(self) -> float | None:
        """How much slower B is, in % (negative: faster)."""
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0

    def describe(self) -> str:
        if self.ratio is None:
            return f"{self.spec.label()}: {self.status_a} -> {self.status_b}"
        return (f"{self.spec.label()}: {ratio_text(self.ratio)} "
                f"(p={_p_text(self.p_value or 1.0)})")


def _compare_point(a: Measurement, b: Measurement) -> PointComparison:
    """One matched point: the ratio, the Welch test and its spread (verdict by `_judge`)."""
    sa, sb = _status(a), _status(b)
    result = PointComparison(a.spec, sa, sb, message_b=b.message or "")
    if sa != "ok" or sb != "ok":
        result.verdict = STATUS_CHANGE if sa != sb else "not measured"
        return result
    result.summary_a, result.summary_b = stats.point_summary(a), stats.point_summary(b)
    ratio, p, tested = stats.compare_samples(_timed(a), _timed(b), a.samples_per_process,
                                             b.samples_per_process)
    # the same ratio as the throughputs' A / B when the batch sizes agree (they do: same spec)
    result.ratio, result.p_value, result.tested = ratio, p, tested
    by_process = tested.endswith("processes")
    fa, fb = (stats.block_figures(_timed(m), m.samples_per_process, by_process=by_process)
              for m in (a, b))
    if fa.size >= 2 and fb.size >= 2:
        _, result.log_se, result.df = ratios.welch_stats(np.log(fb), np.log(fa))
    return result


def _judge(points: list[PointComparison], min_effect: float, alpha: float) -> None:
    """Holm-correct the measured points' p-values together, then each one's verdict and
    minimum detectable effect (at the level Holm leaves for a further difference)."""
    measured = [c for c in points if c.ratio is not None]
    adjusted = ratios.holm_adjust([c.p_value if c.p_value is not None else 1.0
                                   for c in measured])
    level = ratios.holm_level(len(measured), sum(p < alpha for p in adjusted), alpha)
    for c, p in zip(measured, adjusted):
        c.p_holm = p
        c.mde_pct = ratios.mde_from_se(c.log_se, c.df, level)
        ratio = c.ratio or 1.0
        if p < alpha and ratio >= 1.0 + min_effect:
            c.verdict = REGRESSION
        elif p < alpha and 1.0 / ratio >= 1.0 + min_effect:
            c.verdict = IMPROVEMENT
        else:
            c.verdict = NO_CHANGE


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
    hosts: list[str] = field(default_factory=list)      # which points ran where, per run
    ratio_changes: list[RatioChange] = field(default_factory=list)   # paired ratios, A vs B
    ratio_note: str = ""                # why the runs' ratios were not compared
    profile_lines: list[str] = field(default_factory=list)   # --profile: the attribution
    drift_lines: list[str] = field(default_factory=list)     # suite.drift.compare_lines

    def measured(self) -> list[PointComparison]:
        """Points measured ok in both runs."""
        return [c for c in self.matched if c.ratio is not None]

    def status_changes(self) -> list[PointComparison]:
        return [c for c in self.matched if c.status_a != c.status_b]

    def regressions(self, threshold_pct: float, include_failures: bool = True
                    ) -> list[PointComparison]:
        """Regressions (Holm-corrected p < alpha and at least the minimum effect) of at
        least `threshold_pct` %; with `include_failures`, also points that were ok in A
        and fail in B (a CI gate should not pass because the benchmark stopped running)."""
        slow = [c for c in self.measured() if c.verdict == REGRESSION
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
                 + "".join(f"- {line}\n" for line in self.hosts + self.drift_lines)
                 + f"- change = time per item B / A (throughput A / B); significant when a "
                 f"Welch t-test on per-process figures (both runs with --processes >= 2) or "
                 f"else on ~10 contiguous blocks of steps per run gives p < {self.alpha:g} "
                 f"after a Holm correction over the {len(self.measured())} compared points "
                 f"(Holm p); a regression or improvement needs at least "
                 f"{self.min_effect * 100:g}% as well. MDE: the change a point's test finds "
                 f"with 80% power. Throughputs: items/s ± 95% CI\n"]
        parts += _section("Summary (geometric mean of the ratios of time per item)",
                          self.summary())
        parts += _section("Points measured in both runs", _points_table(self.measured()))
        parts += ratio_section(self.ratio_changes, self.ratio_note)
        parts += self.profile_lines
        parts += _section("Status changes", _status_table(self.status_changes()))
        parts += _section("Only in A", _one_sided(self.only_a))
        parts += _section("Only in B", _one_sided(self.only_b))
        return "\n".join(parts)


NUMERIC_COLUMNS = ("points", "ratio B/A", "regressions", "improvements", "A items/s",
                   "B items/s", "p-value", "Holm p", "MDE")


def _section(title: str, table: pd.DataFrame) -> list[str]:
    """A heading and the table (numbers right-aligned, words left), or "none"."""
    align = ["r" if c in NUMERIC_COLUMNS else "l" for c in table.columns]
    body = markdown_table(table, align) if not table.empty else "none\n"
    return [f"## {title}\n", body]


def _throughput(s: stats.Summary | None) -> str:
    if s is None:
        return ""
    return stats.ci_text(s.items_per_second, s.items_per_second_ci_low,
                         s.items_per_second_ci_high)


POINT_COLUMNS = ["point", "A items/s", "B items/s", "change", "p-value", "Holm p", "MDE",
                 "tested", "verdict"]


def _points_table(items: list[PointComparison]) -> pd.DataFrame:
    rows = [{"point": c.spec.label(), "A items/s": _throughput(c.summary_a),
             "B items/s": _throughput(c.summary_b), "change": ratio_text(c.ratio or 1.0),
             "p-value": _p_text(c.p_value if c.p_value is not None else 1.0),
             "Holm p": _p_text(c.p_holm if c.p_holm is not None else 1.0),
             "MDE": f"{c.mde_pct:.1f}%" if math.isfinite(c.mde_pct) else "",
             "tested": c.tested, "verdict": c.verdict} for c in items]
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def _status_table(items: list[PointComparison]) -> pd.DataFrame:
    rows = [{"point": c.spec.label(), "A": c.status_a, "B": c.status_b,
             "message (B)": c.message_b[:200]} for c in items]
    return pd.DataFrame(rows, columns=["point", "A", "B", "message (B)"])


def _one_sided(items: list[Measurement]) -> pd.DataFrame:
    rows = [{"point": m.spec.label(), "status": m.status} for m in items]
    return pd.DataFrame(rows, columns=["point", "status"])


# --- hosts -------------------------------------------------------------------------------

MACHINE_KEYS = ("cpu_model", "physical_cores", "logical_cores", "gpus")


def machine(env: dict) -> dict[str, object]:
    """What makes two fingerprints the same machine: CPU model, core counts, GPU models
    (None where run.json does not say)."""
    gpus = env.get("gpus")
    return {"cpu_model": env.get("cpu_model"), "physical_cores": env.get("physical_cores"),
            "logical_cores": env.get("logical_cores"),
            "gpus": None if gpus is None else tuple(
                str(g.get("name")) if isinstance(g, dict) else str(g) for g in gpus)}


def point_environment(m: Measurement, info: RunInfo) -> dict:
    """The fingerprint of the host a point ran on: its own (`meta["host"]`, every point
    since scale-out) or, for older points, the run's."""
    host = m.meta.get("host")
    return host if isinstance(host, dict) and host else info.environment


def machine_text(env: dict) -> str:
    """"host1: Intel Xeon ... (2 cores, 4 threads), no GPU"."""
    m = machine(env)
    gpus = ", ".join(m["gpus"]) if m["gpus"] else ("no GPU" if m["gpus"] is not None
                                                   else "GPU unknown")
    return (f"{env.get('hostname') or 'unknown host'}: {m['cpu_model'] or 'unknown CPU'} "
            f"({m['physical_cores'] or '?'} cores, {m['logical_cores'] or '?'} threads), {gpus}")


def machine_differences(env_a: dict, env_b: dict) -> list[str]:
    """The machine properties two fingerprints both state and disagree on."""
    a, b = machine(env_a), machine(env_b)
    return [k for k in MACHINE_KEYS if a[k] is not None and b[k] is not None and a[k] != b[k]]


def _point_hosts(label: str, info: RunInfo, points: list[Measurement]) -> str:
    """"A ran on host1: ... — points: 9 on host1", flagged when its points ran on
    machines that differ (a Slurm run over a mixed partition)."""
    counts: dict[str, int] = {}
    machines: dict[str, str] = {}
    for m in points:
        env = point_environment(m, info)
        host = env.get("hostname") or "unknown host"
        counts[host] = counts.get(host, 0) + 1
        machines[str(machine(env))] = machine_text(env)
    where = "; ".join(f"{n} on {h}" for h, n in counts.items()) or "no points"
    mixed = (f" — MIXED HOSTS: its points ran on {len(machines)} different machines "
             f"({'; '.join(sorted(machines.values()))})") if len(machines) > 1 else ""
    return f"{label} ran on {machine_text(info.environment)} — points: {where}{mixed}"


def _check_hosts(info_a: RunInfo, info_b: RunInfo, allow: bool,
                 pairs: list[tuple[Measurement, Measurement]] = ()) -> None:
    """Refuse runs from different machines: run.json's, and those of every matched pair
    of points (each point names its own host)."""
    envs = [(info_a.environment, info_b.environment)] if not pairs else [
        (point_environment(a, info_a), point_environment(b, info_b)) for a, b in pairs]
    for env_a, env_b in envs:
        differ = machine_differences(env_a, env_b)
        if differ and not allow:
            raise UsageError(f"runs from different machines ({', '.join(differ)} differ): A "
                             f"ran on {machine_text(env_a)}; B on {machine_text(env_b)}; "
                             f"pass --allow-different-hosts to compare them anyway")


def compare_runs(run_a: Path, run_b: Path, min_effect: float = 0.05, alpha: float = 0.05,
                 allow_different_hosts: bool = False, profile: bool = False
                 ) -> Comparison | ServingComparison:
    """Match the points of two run folders and compare them (UsageError if unreadable, or
    if the runs come from different machines and `allow_different_hosts` is not set);
    `profile`: attribute each flagged change to operator classes (`compare_profile`)."""
    info_a, info_b = read_run_info(Path(run_a)), read_run_info(Path(run_b))
    points_a, points_b = load_measurements(Path(run_a)), load_measurements(Path(run_b))
    if profile:   # both runs must have been profiled (one line, exit 2 otherwise)
        check_profiled(Path(run_a), points_a)
        check_profiled(Path(run_b), points_b)
    if check_tasks(info_a.task, info_b.task):   # serving runs: QPS, p99 and validity
        _check_hosts(info_a, info_b, allow_different_hosts, [])
        return compare_serving(run_a, run_b, points_a, points_b, min_effect)
    a = {m.spec.key(): m for m in points_a}
    b = {m.spec.key(): m for m in points_b}
    _check_hosts(info_a, info_b, allow_different_hosts,
                 [(a[k], b[k]) for k in sorted(a.keys() & b.keys())])
    result = Comparison(Path(run_a), Path(run_b), min_effect, alpha,
                        hosts=[_point_hosts("A", info_a, points_a),
                               _point_hosts("B", info_b, points_b)])
    for key in sorted(a.keys() & b.keys(), key=lambda k: a[k].spec):
        result.matched.append(_compare_point(a[key], b[key]))
    _judge(result.matched, min_effect, alpha)
    result.drift_lines = compare_lines(points_a, points_b,
                                       [c.ratio for c in result.measured() if c.ratio])
    result.ratio_changes, result.ratio_note = match_ratios(
        ratios.run_ratios(points_a, info_a.config or {}),
        ratios.run_ratios(points_b, info_b.config or {}))
    if profile:
        result.profile_lines = profile_section(
            [c for c in result.measured() if c.verdict in (REGRESSION, IMPROVEMENT)], a, b)
    result.only_a = sorted((a[k] for k in a.keys() - b.keys()), key=lambda m: m.spec)
    result.only_b = sorted((b[k] for k in b.keys() - a.keys()), key=lambda m: m.spec)
    return result

