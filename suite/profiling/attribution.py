"""Which operator classes a change of step time came from: two profile records of the
same point (two runs, `compare --profile`) or of two variants at the same configuration
(two frameworks, the report's summary). Pure functions over stored records.

The change per class is B's ms per step - A's, framework overhead included as its own
class, so the parts add up to the change of the profiled step time. Each part's share is
of that total change; the timed change (the points' own step times, `timed_step_ms`) is
reported beside it, since profiled steps are not timed ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from suite.profiling.breakdown import is_profiled
from suite.profiling.classes import CLASSES, OVERHEAD, class_label


@dataclass(frozen=True)
class ClassChange:
    """One class's part of a change: ms per step (B - A) and its % of the profiled change."""

    cls: str
    delta_ms: float
    share_pct: float        # of the change of the profiled step (NaN when that is 0)


@dataclass(frozen=True)
class Attribution:
    """A change between two profiles, per class, largest parts first."""

    profiled_change_ms: float      # B's profiled step - A's
    timed_change_ms: float | None  # B's timed (or unprofiled) step - A's
    parts: tuple[ClassChange, ...]

    def text(self, top: int = 3, min_share_pct: float = 5.0) -> str:
        """"+6.1 ms convolution (62%), +2.9 ms layout/copies (30%)": the largest parts in
        the change's direction that carry at least `min_share_pct` of it."""
        shown = [p for p in self.parts if _same_direction(p.delta_ms, self.profiled_change_ms)
                 and not (math.isfinite(p.share_pct) and p.share_pct < min_share_pct)][:top]
        return ", ".join(f"{ms_text(p.delta_ms, sign=True)} ms {class_label(p.cls)}"
                         + (f" ({p.share_pct:.0f}%)" if math.isfinite(p.share_pct) else "")
                         for p in shown) or "no class changed"


def ms_text(ms: float, sign: bool = False) -> str:
    """"6.1", "12.3", "0.042": a tenth of a ms above 1 ms, two significant digits below."""
    text = f"{ms:.1f}" if abs(ms) >= 1 else f"{ms:.2g}"
    return ("+" if sign and ms > 0 else "") + text


def _same_direction(delta: float, total: float) -> bool:
    return delta != 0 and (total == 0 or (delta > 0) == (total > 0))


def class_times(profile: dict[str, Any]) -> dict[str, float]:
    """ms per step per class, overhead last (every class, zeros included)."""
    times = {c: float(profile["classes_ms"].get(c, 0.0)) for c in CLASSES}
    times[OVERHEAD] = float(profile["overhead_ms"])
    return times


def step_ms(profile: dict[str, Any]) -> float:
    """The figure a change of step time is told in: the point's timed mean step where the
    record has it, else the profile worker's unprofiled step."""
    timed = profile.get("timed_step_ms")
    return float(timed if timed is not None else profile["unprofiled_step_ms"])


def attribute(profile_a: dict[str, Any], profile_b: dict[str, Any]) -> Attribution | None:
    """B's step time against A's, per class; None unless both records have figures."""
    if not (is_profiled(profile_a) and is_profiled(profile_b)):
        return None
    a, b = class_times(profile_a), class_times(profile_b)
    total = sum(b.values()) - sum(a.values())
    parts = [ClassChange(c, b[c] - a[c], 100.0 * (b[c] - a[c]) / total if total else math.nan)
             for c in a]
    parts.sort(key=lambda p: -abs(p.delta_ms))
    return Attribution(total, step_ms(profile_b) - step_ms(profile_a), tuple(parts))
