"""`compare --profile`: each flagged change (a regression or an improvement) attributed to
the operator classes whose time changed, from the two runs' profile records
(`suite.profiling.attribution`): ms per step and % of the change per class.

A point flagged but not profiled in both runs says so; runs of which neither was profiled
are refused (UsageError) with the command that profiles them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from suite.errors import UsageError
from suite.profiling.attribution import attribute, ms_text
from suite.spec import Measurement

COLUMNS = ["point", "change", "timed step A → B (ms)", "profiled Δ (ms)",
           "where it changed (ms per step, % of the profiled change)"]


def check_profiled(run: Path, points: list[Measurement]) -> None:
    """Refuse `--profile` for a run none of whose points has a profile record."""
    if not any(m.profile for m in points):
        raise UsageError(f"compare --profile: {run} was not profiled; profile it first with "
                         f"`python -m suite profile {run}` (or sweep with --profile)")


def profile_table(flagged: list[Any], a: dict[str, Measurement],
                  b: dict[str, Measurement]) -> tuple[pd.DataFrame, list[str]]:
    """One row per flagged point profiled in both runs, and the points flagged but not."""
    rows, missing = [], []
    for c in flagged:
        key = c.spec.key()
        pa, pb = (a[key].profile or {}), (b[key].profile or {})
        found = attribute(pa, pb)
        if found is None:
            why = pa.get("reason") or pb.get("reason") or "not profiled in both runs"
            missing.append(f"{c.spec.label()}: {why}")
            continue
        timed = (f"{ms_text(pa.get('timed_step_ms') or pa['unprofiled_step_ms'])} → "
                 f"{ms_text(pb.get('timed_step_ms') or pb['unprofiled_step_ms'])}")
        rows.append({"point": c.spec.label(),
                     "change": f"{(c.ratio - 1.0) * 100.0:+.1f}% time per item ({c.verdict})",
                     COLUMNS[2]: timed,
                     COLUMNS[3]: ms_text(found.profiled_change_ms, sign=True),
                     COLUMNS[4]: found.text(top=4)})
    return pd.DataFrame(rows, columns=COLUMNS), missing


def profile_section(flagged: list[Any], a: dict[str, Measurement],
                    b: dict[str, Measurement]) -> list[str]:
    """The Markdown of the comparison's "Where the changes come from" section."""
    from suite.report.tables import markdown_table
    head = "## Where the changes come from (profiles)\n"
    if not flagged:
        return [head, "no regression or improvement to attribute\n"]
    table, missing = profile_table(flagged, a, b)
    parts = [head, "- per flagged point: each operator class's change of ms per step in the "
             "profiled workers (framework overhead as its own class), with its % of the "
             "profiled step's change; profiled steps are not timed ones, so the timed "
             "steps are shown beside them\n"]
    if not table.empty:
        parts.append(markdown_table(table, ["l", "l", "r", "r", "l"]))
    if missing:
        parts.append("not attributed:\n" + "".join(f"- {line}\n" for line in missing))
    return parts

