"""Extra rounds for the blocks whose framework ratios do not yet resolve `--resolve` %.

The point rule (`suite.schedule.wants_another`) gives a point extra rounds while its own
CIs are wider than --precision; that rule knows nothing of the verdicts. A block's points
can each be precise while the paired ratios between them still cannot tell a 5%
difference: what a ratio resolves, its minimum detectable effect (MDE, 80% power), falls
as the paired per-round spread over √rounds, and with 3-5 rounds and a 3% spread it is
7-11% (docs/statistics.md).

With `--resolve PCT`, after its --processes rounds a block gets another round while one of
its ratios' MDE is above PCT and the rounds that would bring that ratio to PCT, at its
paired spread so far, fit within --max-processes. The MDE is the one the report states
(`suite.ratios.judge`): at the level the run's Holm procedure leaves for one more
difference, over all the run's ratios so far. A ratio that cannot get there within
--max-processes at its spread does not ask (as a point whose processes disagree too much
does not): the rounds go where they buy a resolution. Control arms count like any ratio:
their MDE is the run's sensitivity to a false difference.

Pure functions of the points' processes so far; no framework imports.
"""
from __future__ import annotations

import functools
import math
from typing import Mapping, Sequence

from suite import ratios
from suite.blocks import block_key
from suite.spec import Measurement, combine_processes


def rounds_to_resolve(log_sd: float, rounds: int, level: float, target_pct: float,
                      max_rounds: int) -> int | None:
    """The fewest rounds, at least `rounds` and at most `max_rounds`, whose MDE at paired
    spread `log_sd` and test level `level` is at most `target_pct`; None when none is."""
    if not (math.isfinite(log_sd) and log_sd >= 0):
        return None
    for n in range(max(2, rounds), max_rounds + 1):
        # suite.ratios.mde_from_se, with the noncentrality cached: asked every round
        if 100.0 * math.expm1(_noncentrality(n - 1, level) * log_sd / math.sqrt(n)) \
                <= target_pct:
            return n
    return None


@functools.lru_cache(maxsize=4096)
def _noncentrality(df: int, level: float) -> float:
    return ratios.noncentrality_for_power(df, level)


def judged_ratios(parts: Mapping[str, Sequence[Measurement]],
                  reference: tuple[str, str]) -> list[ratios.Ratio]:
    """The run's ratios over the processes so far (each point: its ok processes
    combined), judged as the report judges them."""
    points = [combine_processes(list(p)) for p in parts.values()
              if p and all(m.status == "ok" for m in p)]
    return ratios.judge(ratios.block_ratios(points, reference))


def resolve_record(judged: Sequence[ratios.Ratio], target: float) -> dict[str, object]:
    """For run.json's certificate: the --resolve target (%) and how many of the cells with
    an MDE (control arms left out where there are others, as the certificate's median
    does) reached it."""
    cells = [r for r in judged if math.isfinite(r.mde_pct)]
    cells = [r for r in cells if not r.control] or cells
    return {"target_pct": round(100.0 * target, 6), "cells": len(cells),
            "cells_resolving": sum(r.mde_pct <= 100.0 * target for r in cells)}


def unresolved_blocks(parts: Mapping[str, Sequence[Measurement]],
                      reference: tuple[str, str] | None, target: float,
                      max_rounds: int) -> dict[str, int]:
    """Block key -> the rounds its least resolved ratio needs for an MDE of `target` (a
    fraction), for every block that wants another round by the rule above. Empty without a
    target or a reference."""
    if not target or target <= 0 or reference is None:
        return {}
    judged = judged_ratios(parts, reference)
    tested = [r for r in judged if r.tested]
    level = ratios.holm_level(len(tested), sum(r.p_holm < ratios.ALPHA for r in tested))
    wanted: dict[str, int] = {}
    for r in judged:
        if not r.paired or r.rounds < 2 or not r.mde_pct > 100.0 * target:
            continue
        needed = rounds_to_resolve(r.log_sd, r.rounds, level, 100.0 * target, max_rounds)
        if needed is not None and needed > r.rounds:
            key = block_key(r.spec)
            wanted[key] = max(wanted.get(key, 0), needed)
    return wanted
