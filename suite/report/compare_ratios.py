"""`compare` of two runs' paired framework ratios (CONTRACT §15): where both runs are
interleaved runs of the same blocks, each variant's ratio to its block reference in run B
is checked against run A's 95% CI; a B ratio outside it is a change in the frameworks'
order there, and the comparison says so.

Note what the rule is: B's ratio is itself an estimate, so even two runs of one machine
put it outside A's interval more often than 5% of the time (about 17% when both runs are
equally precise); the table shows both intervals so a reader can see by how much.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from suite.ratios import Ratio
from suite.report.ratio_tables import block_title, ratio_ci_text, variant_label, varying_fields
from suite.report.tables import markdown_table

RATIO_TITLE = "Framework ratios (paired, per block)"
COLUMNS = ["block", "variant", "reference", "A ratio (95% CI)", "B ratio (95% CI)", "B vs A"]
INSIDE, OUTSIDE = "inside A's CI", "outside A's CI: order changed"


@dataclass(frozen=True)
class RatioChange:
    """One variant's paired ratio to its block reference in run A and in run B."""

    a: Ratio
    b: Ratio

    @property
    def inside(self) -> bool:
        """Whether B's ratio lies within A's 95% CI."""
        return bool(self.a.low <= self.b.ratio <= self.a.high)


def _key(r: Ratio) -> tuple[str, str]:
    return r.spec.key(), r.reference.key()


def match_ratios(a: Sequence[Ratio], b: Sequence[Ratio]) -> tuple[list[RatioChange], str]:
    """The ratios both runs hold, paired by round in both, and why none are compared when
    none are ("" when some are, or when neither run has ratios at all)."""
    if not a and not b:
        return [], ""
    unpaired = [name for name, rs in (("A", a), ("B", b)) if not any(r.paired for r in rs)]
    if unpaired:
        return [], (f"run {' and '.join(unpaired)} has no paired ratios (no interleaved "
                    "rounds): the frameworks' order is compared only between interleaved "
                    "runs")
    by_key = {_key(r): r for r in a if r.paired and math.isfinite(r.low)}
    changes = [RatioChange(by_key[_key(r)], r) for r in b if r.paired and _key(r) in by_key]
    return changes, "" if changes else "the runs share no blocks with paired ratios"


def ratio_table(changes: Sequence[RatioChange]) -> pd.DataFrame:
    """One row per matched ratio: the block, the variant, both ratios, the verdict."""
    varying = varying_fields([c.a for c in changes])
    rows = [{"block": block_title(c.a.spec, varying), "variant": variant_label(c.a.spec),
             "reference": variant_label(c.a.reference),
             "A ratio (95% CI)": ratio_ci_text(c.a), "B ratio (95% CI)": ratio_ci_text(c.b),
             "B vs A": INSIDE if c.inside else f"**{OUTSIDE}**"} for c in changes]
    return pd.DataFrame(rows, columns=COLUMNS)


def ratio_section(changes: Sequence[RatioChange], note: str) -> list[str]:
    """The comparison's Markdown section on the frameworks' order ([] when neither run
    has ratios)."""
    if not changes and not note:
        return []
    if not changes:
        return [f"## {RATIO_TITLE}\n", f"not compared: {note}\n"]
    outside = sum(not c.inside for c in changes)
    head = (f"- {outside} of {len(changes)} ratios of B lie outside run A's 95% CI: "
            + ("the frameworks' order changed there" if outside else
               "the frameworks' order held") + "\n")
    return [f"## {RATIO_TITLE}\n", head, markdown_table(ratio_table(changes), ["l"] * 3 +
                                                        ["r", "r", "l"])]
