"""Paired throughput ratios within blocks, their verdicts, and a run's noise certificate
(CONTRACT §15). Pure functions over stored measurements; no framework imports.

A block (`suite.blocks`): the points that differ only in framework, optimization and arm.
An interleaved run measures each point once per round, a block's points back to back, so
the machine's drift hits them alike. Each variant's throughput per round (Σ items / Σ time
of that round's process) over the block reference's in the same round gives per-round
log-ratios: the ratio is exp of their mean, with a 95% t-interval over rounds, a paired
t-test p-value and a minimum detectable effect (`mde_pct`). A drift common to a block
cancels. Without rounds (sequential, older runs) the ratio falls back to an unpaired Welch
interval over the points' processes; with one process per point no interval exists and
none is invented. Verdicts: the p-values of all of a run's ratios (control arms included)
are Holm-corrected together; a lead needs an adjusted p below `ALPHA` and an effect of at
least `min_effect`. A control arm (a blind copy of the reference) differs from it by
nothing, so the share of them called different is the run's own false-positive rate.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _sp

from suite import stats
from suite.blocks import CONTROL_ARM, block_key, parse_reference, reference_variant, variant

ALPHA = 0.05                 # the family-wise error rate of a run's verdicts (Holm)
POWER = 0.80                 # the power the minimum detectable effect is stated at
CONFIDENCE = 0.95            # the ratios' intervals
DEFAULT_MIN_EFFECT = 0.02    # run.json without `min_effect`
CERTIFICATE_SCHEMA = 1
FASTER, SLOWER = "faster", "slower"
RATIO_TASKS = ("train", "infer")     # serving points have their own statistics


# --- one process, one round ---------------------------------------------------------------

def process_throughputs(m: Any) -> list[float]:
    """Items per second of each worker process of a stored point, in order: Σ items /
    Σ time of that process, the time from its windows (GPU: one sync per window) where
    they line up with the processes, else from its samples (`stats.timed_samples`)."""
    samples, _ = stats.timed_samples(m.samples_ns, m.device_samples_ns)
    counts = getattr(m, "samples_per_process", None)
    parts = stats.split_processes(samples, counts)
    items = m.items_per_step or m.spec.batch_size
    windows = stats.usable_windows((getattr(m, "window_ns", None),
                                    getattr(m, "window_steps", None)), len(samples))
    if windows is not None:
        split = stats.split_windows(windows[0], windows[1], counts if len(parts) > 1 else None)
        if len(split) == len(parts):
            return [items * float(n.sum()) * stats.NS_PER_S / float(w.sum()) for w, n in split]
    return [items * p.size * stats.NS_PER_S / float(p.sum()) for p in parts if p.size]


def process_rounds(m: Any) -> list[int | None]:
    """The 1-based round of each process of a stored point (None where not recorded:
    sequential and older runs)."""
    meta = m.meta or {}
    records = meta.get("processes") if isinstance(meta.get("processes"), list) else None
    # without process records, one process so far: the point's own round
    rounds = [r.get("round") if isinstance(r, dict) else None for r in records or [meta]]
    return [r if isinstance(r, int) and not isinstance(r, bool) else None for r in rounds]


def round_throughputs(m: Any) -> dict[int, float]:
    """Throughput per round of a stored point ({} when any process lacks its round, or the
    counts do not line up); two processes of one round are pooled (Σ items / Σ time)."""
    figures, rounds = process_throughputs(m), process_rounds(m)
    if len(figures) != len(rounds) or any(r is None for r in rounds):
        return {}
    steps = stats.split_processes(stats.timed_samples(m.samples_ns, m.device_samples_ns)[0],
                                  getattr(m, "samples_per_process", None))
    pooled: dict[int, list[float]] = {}     # round -> [steps, steps / throughput]
    for r, tp, part in zip(rounds, figures, steps):
        steps_time = pooled.setdefault(int(r), [0.0, 0.0])  # type: ignore[arg-type]
        steps_time[0] += part.size
        steps_time[1] += part.size / tp
    return {r: n / t for r, (n, t) in sorted(pooled.items())}


def paired_log_ratios(figures: dict[int, float], reference: dict[int, float]) -> np.ndarray:
    """log(variant / reference) for each round both measured, in round order."""
    return np.log([figures[r] / reference[r] for r in sorted(figures.keys() & reference.keys())])


# --- intervals, tests, power --------------------------------------------------------------

def log_interval(mean: float, se: float, df: float,
                 confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(ratio, low, high) = exp of a log-scale mean and its t-interval (NaN bounds for no
    degrees of freedom)."""
    if not df > 0 or not math.isfinite(se):
        return math.exp(mean), math.nan, math.nan
    half = float(_sp.t.ppf(0.5 + confidence / 2, df)) * se
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def t_p_value(mean: float, se: float, df: float) -> float:
    """Two-sided p-value of a t statistic mean / se on df degrees of freedom (NaN without
    df; 0 or 1 for a spread of exactly zero)."""
    if not df > 0 or se == 0:
        return math.nan if not df > 0 else float(mean == 0)
    return float(2 * _sp.t.sf(abs(mean) / se, df))


def paired_stats(log_ratios: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, sd, se, df) of per-round log-ratios: the paired t-test's figures."""
    d = np.asarray(log_ratios, dtype=np.float64)
    if d.size < 2:
        return (float(d.mean()) if d.size else math.nan), math.nan, math.nan, 0.0
    sd = float(d.std(ddof=1))
    return float(d.mean()), sd, sd / math.sqrt(d.size), float(d.size - 1)


def welch_stats(log_a: Sequence[float], log_b: Sequence[float]) -> tuple[float, float, float]:
    """(mean difference a - b, its standard error, Welch-Satterthwaite df) of two samples
    of log-throughputs (df 0 when either has fewer than two)."""
    a, b = np.asarray(log_a, dtype=np.float64), np.asarray(log_b, dtype=np.float64)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return diff, math.nan, 0.0
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return diff, 0.0, float(a.size + b.size - 2)
    return diff, math.sqrt(va + vb), float((va + vb) ** 2 / (va ** 2 / (a.size - 1)
                                                              + vb ** 2 / (b.size - 1)))


def noncentrality_for_power(df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """λ with P(T' > t_{1-α/2, df}) = power for T' ~ noncentral t(df, λ)."""
    critical = float(_sp.t.ppf(1 - alpha / 2, df))

    def shortfall(lam: float) -> float:
        return float(_sp.nct.sf(critical, df, lam)) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(_opt.brentq(shortfall, 0.0, high, xtol=1e-6))


def mde_from_se(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The minimum detectable effect in % of a log-scale test with standard error `se` on
    `df` degrees of freedom: 100 (exp(λ se) - 1), λ from `noncentrality_for_power` (NaN
    without df, so no test)."""
    return 100.0 * math.expm1(noncentrality_for_power(df, alpha, power) * se) \
        if df > 0 and math.isfinite(se) else math.nan


def mde_pct(log_sd: float, rounds: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect, in %, of a paired ratio over `rounds` rounds whose
    per-round log-ratios spread by `log_sd` (their sample sd).

    MDE = 100 (exp(λ s / √n) - 1), where n = rounds, s = log_sd and λ is the noncentrality
    at which a two-sided paired t-test at level α on n - 1 degrees of freedom rejects with
    probability `power`: P(T' > t_{1-α/2, n-1}) = power for T' ~ noncentral t(n - 1, λ)
    (the far tail, below -t, is neglected: it is under 1e-3 at 80% power). For large n,
    λ ≈ t_{1-α/2} + t_{power} (2.80 at 5% and 80%); at n = 3 it is 5.65. An effect the
    size of the MDE is then found four times in five. NaN for fewer than two rounds.
    """
    if rounds < 2:
        return math.nan
    return mde_from_se(log_sd / math.sqrt(rounds), rounds - 1, alpha, power)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order (NaN entries stay NaN and
    do not count). Sorted ascending, p_(i) becomes max over j <= i of min(1, (m-j+1) p_(j))."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(indexed)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def holm_level(tested: int, rejected: int, alpha: float = ALPHA) -> float:
    """The level a further difference faces in a Holm procedure over `tested` p-values of
    which `rejected` were rejected: α / (tested - rejected), at least α / 1."""
    return alpha / max(1, tested - rejected)


# --- the ratios of a run ------------------------------------------------------------------

@dataclass(frozen=True)
class Ratio:
    """One variant's throughput over its block reference's; see the module docstring."""

    spec: Any                   # the variant's PointSpec
    reference: Any              # the block reference's PointSpec
    ratio: float                # > 1: faster than the reference
    low: float                  # its 95% CI, low and high (NaN: none)
    high: float
    rounds: int                 # paired rounds (0: unpaired or no interval)
    paired: bool
    log_sd: float               # paired spread: sd of the per-round log-ratios (NaN unpaired)
    log_se: float               # standard error of the mean log-ratio
    df: float                   # its degrees of freedom (0: no test)
    p_value: float              # NaN: no test
    note: str = ""              # why unpaired or not available
    p_holm: float = math.nan
    mde_pct: float = math.nan
    verdict: str = ""
    lead: bool = False          # called different (Holm and the minimum effect)

    @property
    def control(self) -> bool:
        """Whether this is a control arm's ratio (a blind copy of the reference)."""
        return getattr(self.spec, "arm", "") == CONTROL_ARM

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p_value)

    @property
    def effect_pct(self) -> float:
        """The factor between the two, either way, in % (1.05 and 1/1.05 are both 5%)."""
        return 100.0 * math.expm1(abs(math.log(self.ratio)))


NO_ROUNDS = ("its processes did not run in interleaved rounds (--schedule sequential, or "
             "a run from before rounds)")
ONE_PROCESS = "each point ran in one process: no spread to give an interval (--processes 3)"
NO_PAIRS = "fewer than two rounds measured both"


def pair_ratio(m: Any, ref: Any, confidence: float = CONFIDENCE) -> Ratio:
    """The ratio of point `m` to its block reference `ref` (both ok): paired over the
    rounds both ran in where there are two or more, else unpaired (Welch, over processes),
    else a ratio without an interval."""
    a, b = round_throughputs(m), round_throughputs(ref)
    logs = paired_log_ratios(a, b) if a and b else np.array([])
    if logs.size >= 2:
        mean, sd, se, df = paired_stats(logs)
        return Ratio(m.spec, ref.spec, *log_interval(mean, se, df, confidence),
                     int(logs.size), True, sd, se, df, t_p_value(mean, se, df))
    tp_a, tp_b = process_throughputs(m), process_throughputs(ref)
    diff, se, df = welch_stats(np.log(tp_a), np.log(tp_b))
    note = NO_PAIRS if a and b else (NO_ROUNDS if df > 0 else ONE_PROCESS)
    return Ratio(m.spec, ref.spec, *log_interval(diff, se, df, confidence), 0, False,
                 math.nan, se, df, t_p_value(diff, se, df), note=note)


def run_reference(config: dict[str, Any], measurements: Sequence[Any]) -> tuple[str, str] | None:
    """The run's block reference (framework, optimization): run.json's `reference` (a
    {"framework", "optimization"} record or "fw[:opt]"), else the first of its
    `frameworks` in its first optimization; older run.json files without them fall back
    to the points' order. None for a run without points."""
    seen: dict[str, dict[str, None]] = {}      # framework -> its optimizations, in order
    for m in measurements:
        seen.setdefault(m.spec.framework, {})[m.spec.optimization] = None
    frameworks = [f for f in (config.get("frameworks") or []) if isinstance(f, str)] or list(seen)
    configured = config.get("optimizations") or {}    # older run.json files: one list
    optimizations = {f: list((configured.get(f) if isinstance(configured, dict) else
                              configured) or seen.get(f) or []) for f in [*frameworks, *seen]}
    given = config.get("reference")
    chosen = (str(given["framework"]), given.get("optimization") or None) \
        if isinstance(given, dict) and given.get("framework") else \
        parse_reference(given if isinstance(given, str) else None)
    framework = chosen[0] if chosen else (frameworks[0] if frameworks else None)
    if framework is None or not (optimizations.get(framework) or (chosen and chosen[1])):
        return None
    return reference_variant(frameworks or [framework], optimizations, chosen)


def block_ratios(measurements: Iterable[Any], reference: tuple[str, str]) -> list[Ratio]:
    """Every variant's ratio to its block's reference point, unjudged, blocks in first-seen
    order (ok train/infer points only; a block without an ok reference has none)."""
    blocks: dict[str, list[Any]] = {}
    for m in measurements:
        samples = stats.timed_samples(m.samples_ns, m.device_samples_ns)[0]
        if m.status == "ok" and m.spec.task in RATIO_TASKS and min(samples, default=0) > 0:
            blocks.setdefault(block_key(m.spec), []).append(m)
    out = []
    for points in blocks.values():
        refs = [m for m in points if variant(m.spec) == (*reference, "")]
        if not refs:
            continue
        out += [pair_ratio(m, refs[-1]) for m in points if m is not refs[-1]]
    return out


def judge(ratios: Sequence[Ratio], min_effect: float = DEFAULT_MIN_EFFECT,
          alpha: float = ALPHA, power: float = POWER) -> list[Ratio]:
    """The ratios with their Holm-adjusted p-values, minimum detectable effects and
    verdicts. The MDE is taken at the level a further difference would face in this run's
    Holm procedure (`holm_level`): the effect this run would resolve four times in five."""
    adjusted = holm_adjust([r.p_value for r in ratios])
    tested = sum(not math.isnan(p) for p in adjusted)
    rejected = sum(p < alpha for p in adjusted if not math.isnan(p))
    level = holm_level(tested, rejected, alpha)
    out = []
    for r, p in zip(ratios, adjusted):
        mde = mde_from_se(r.log_se, r.df, level, power)
        out.append(dataclasses.replace(r, p_holm=p, mde_pct=mde,
                                       **_verdict(r, p, mde, min_effect, alpha)))
    return out


def _verdict(r: Ratio, p_holm: float, mde: float, min_effect: float,
             alpha: float) -> dict[str, Any]:
    """The verdict text and whether a difference is called."""
    if math.isnan(p_holm):
        return {"verdict": "not available (" + (r.note or NO_PAIRS) + ")", "lead": False}
    if p_holm < alpha and r.effect_pct >= 100 * min_effect - 1e-9:
        return {"verdict": FASTER if r.ratio > 1 else SLOWER, "lead": True}
    if p_holm < alpha:
        return {"verdict": f"under the minimum effect ({r.effect_pct:.1f}% < "
                           f"{100 * min_effect:g}%)", "lead": False}
    return {"verdict": f"no difference resolved (this cell resolves >= {stats.effect_text(mde)})",
            "lead": False}


def run_ratios(measurements: Sequence[Any], config: dict[str, Any]) -> list[Ratio]:
    """Every judged ratio of a run (run.json's config: reference, min_effect)."""
    reference = run_reference(config or {}, measurements)
    if reference is None:
        return []
    return judge(block_ratios(measurements, reference), min_effect_of(config))


def min_effect_of(config: dict[str, Any]) -> float:
    """run.json's `min_effect` (a fraction), DEFAULT_MIN_EFFECT where absent."""
    value = (config or {}).get("min_effect")
    return DEFAULT_MIN_EFFECT if value is None else float(value)


# --- the certificate ----------------------------------------------------------------------

BLOCK_COLUMNS = ("model", "task", "batch_size", "threads", "device", "dtype", "image_size")
PLACEMENT_FIELDS = ("interop_threads", "mapping", "ht", "memory", "nproc_per_node", "nnodes")


def _number(v: float, digits: int = 6) -> float | None:
    """A float for JSON/CSV: NaN as None, rounded to `digits` significant figures."""
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def ratio_record(r: Ratio) -> dict[str, Any]:
    """One ratio as a flat record: ratios.csv's columns (in order), then the test's figures
    and the placement fields."""
    s, ref = r.spec, r.reference
    rec = {"model": s.model, "task": s.task, "batch_size": s.batch_size, "threads": s.threads,
           "device": s.device, "dtype": s.dtype, "image_size": s.input_size,
           "framework": s.framework, "optimization": s.optimization,
           "arm": getattr(s, "arm", ""), "ref_framework": ref.framework,
           "ref_optimization": ref.optimization, "ratio": _number(r.ratio),
           "ratio_low": _number(r.low), "ratio_high": _number(r.high), "rounds": r.rounds,
           "mde_pct": _number(r.mde_pct, 3), "verdict": r.verdict}
    rec.update(paired=r.paired, paired_spread=_number(r.log_sd, 4),
               p_value=_number(r.p_value, 4), p_holm=_number(r.p_holm, 4))
    rec.update({f: getattr(s, f) for f in PLACEMENT_FIELDS})
    return rec


def certificate(ratios: Sequence[Ratio], rounds: int, min_effect: float) -> dict[str, Any]:
    """What a run can resolve: its rounds, why unpaired ("note"), each cell's paired spread
    and MDE, their median over the tested cells (control arms left out where there are
    others), and the control arms' result (k of n called different)."""
    controls = [r for r in ratios if r.control]
    paired = any(r.paired for r in ratios)
    note = "" if paired or not ratios else next(
        (r.note for r in ratios if r.note == NO_ROUNDS), ratios[0].note)
    cells = [r for r in ratios if math.isfinite(r.mde_pct)]
    cells = [r for r in cells if not r.control] or cells
    return {"schema": CERTIFICATE_SCHEMA, "rounds": rounds, "paired": paired, "note": note,
            "alpha": ALPHA, "power": POWER, "min_effect": min_effect,
            "ratios": len(ratios), "tested": sum(r.tested for r in ratios),
            "leads": sum(r.lead for r in ratios if not r.control),
            "mde_pct_median": _number(float(np.median([r.mde_pct for r in cells])), 3)
            if cells else None,
            "control": {"arms": len(controls), "tested": sum(r.tested for r in controls),
                        "called_different": sum(r.lead for r in controls),
                        "ci_excludes_one": sum(r.low > 1 or r.high < 1 for r in controls)},
            "cells": [ratio_record(r) for r in ratios]}


def run_rounds(measurements: Iterable[Any]) -> int:
    """The most rounds any point of the run took part in (0: no rounds recorded)."""
    return max((len({r for r in process_rounds(m) if r is not None}) for m in measurements
                if m.status == "ok"), default=0)


def run_certificate(measurements: Sequence[Any], config: dict[str, Any],
                    ratios: Sequence[Ratio] | None = None) -> dict[str, Any]:
    """The noise certificate of a run, for run.json (see `certificate`); `ratios`: its
    `run_ratios` where the caller has them already."""
    config = config or {}
    if ratios is None:
        ratios = run_ratios(measurements, config)
    return certificate(ratios, run_rounds(measurements), min_effect_of(config))
