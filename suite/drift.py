"""How far the machine's own speed moved between a run's rounds (CONTRACT §15).

In an interleaved run every round measures every point once. Each process's log-throughput
less its point's mean over the rounds is that process's deviation; the mean deviation of
all the points measured in a round is the round's **effect**: how much faster or slower
the whole machine was in that round. A point's CI covers the effects of its own rounds;
a rerun is another draw of them. On a shared VM the effects wander over minutes
(docs/statistics.md: a run's last round and the next run's first agree), so the spread of
a run's round effects is the size of the shift a rerun's absolute figures can show, while
the paired ratios cancel it. The report states it beside the certificate.

Pure functions over stored measurements; no framework imports.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from suite import ratios

MIN_POINTS = 2      # a round's effect needs at least this many points measured in it


def round_deviations(measurements: Iterable[Any]) -> dict[int, list[float]]:
    """Round -> the log-throughput deviations of the processes measured in it, each from
    its point's mean over its rounds (ok train/infer points with two or more rounds)."""
    out: dict[int, list[float]] = {}
    for m in measurements:
        if m.status != "ok" or m.spec.task not in ratios.RATIO_TASKS:
            continue
        figures = ratios.round_throughputs(m)
        if len(figures) < 2 or min(figures.values()) <= 0:
            continue
        logs = {r: math.log(tp) for r, tp in figures.items()}
        mean = float(np.mean(list(logs.values())))
        for r, value in logs.items():
            out.setdefault(r, []).append(value - mean)
    return out


def round_effects(measurements: Iterable[Any]) -> dict[int, float]:
    """Round -> the machine's speed in it against the run's mean, in % (+: faster), for the
    rounds with at least MIN_POINTS points."""
    return {r: 100.0 * math.expm1(float(np.mean(d)))
            for r, d in sorted(round_deviations(measurements).items()) if len(d) >= MIN_POINTS}


def drift_record(measurements: Iterable[Any]) -> dict[str, Any] | None:
    """For run.json's certificate: each round's effect, their sd and their range (max -
    min), in %; None with fewer than two rounds that have an effect."""
    effects = round_effects(measurements)
    if len(effects) < 2:
        return None
    values = list(effects.values())
    return {"effects_pct": {str(r): round(v, 3) for r, v in effects.items()},
            "sd_pct": round(float(np.std(values, ddof=1)), 3),
            "range_pct": round(max(values) - min(values), 3)}


def compare_lines(points_a: Sequence[Any], points_b: Sequence[Any],
                  changes: Sequence[float]) -> list[str]:
    """For `compare`: each run's drift between its rounds, and the median change of time per
    item B / A over the compared points (`changes`): a change that every point shares, of
    the size of the drift, can be the machine's between the runs rather than the code's."""
    lines = []
    for name, points in (("A", points_a), ("B", points_b)):
        record = drift_record(points)
        if record is not None:
            lines.append(f"the machine's own speed between {name}'s rounds: sd "
                         f"{record['sd_pct']:.1f}%, range {record['range_pct']:.1f}%")
    if len(changes) >= 2:
        median = float(np.median(changes))
        alike = max(sum(c < 1 for c in changes), sum(c > 1 for c in changes))
        lines.append(f"median change of time per item over the {len(changes)} points: "
                     f"{median:.4f} ({alike} of {len(changes)} the same way); a change that "
                     f"every point shares, of the size of the drift, can be the machine's "
                     f"between the runs rather than the code's")
    return lines


def drift_line(cert: dict[str, Any]) -> str | None:
    """"the machine's speed moved between rounds by ..." for the report; None without."""
    drift = cert.get("drift")
    if not drift:
        return None
    effects = list(drift["effects_pct"].values())
    return (f"the machine's own speed between this run's {len(effects)} rounds (mean over "
            f"its points): {min(effects):+.1f}% to {max(effects):+.1f}% (sd "
            f"{drift['sd_pct']:.1f}%); absolute figures carry this drift, paired ratios "
            f"cancel what a block shares")
