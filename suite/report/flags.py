"""The points of an imported model (--model-file) whose framework and optimization do not
compute the file's function (`suite.equivalence.flag`): their figures are kept and shown,
and every table marks them with MARK, explained by one line under the table.

The flag is a column of the run's frame (FLAG_COLUMN: the reason, "" for a point that is
fine), set once when the run is loaded, so every table, the summary and points.csv read
the same thing."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from suite.equivalence import flag

MARK = "≠"
FLAG_COLUMN = "not_same_function"
FlagKey = tuple[str, str, str]      # (model, framework, optimization)


def run_flags(equivalence: Mapping[str, Any] | None) -> dict[FlagKey, str]:
    """Every flagged (model, framework, optimization) of a run's equivalence records
    (run.json `equivalence`), with the reason."""
    out: dict[FlagKey, str] = {}
    for model, record in (equivalence or {}).items():
        if not isinstance(record, dict):
            continue
        for check in record.get("checks", ()):
            reason = flag(record, check["framework"], check["optimization"])
            if reason:
                out[(model, check["framework"], check["optimization"])] = reason
    return out


def with_flags(frame: pd.DataFrame, flags: Mapping[FlagKey, str]) -> pd.DataFrame:
    """`frame` with FLAG_COLUMN: each row's reason, "" where its point is not flagged."""
    out = frame.copy()
    keys = zip(out["model"], out["framework"], out["optimization"]) if len(out) else []
    out[FLAG_COLUMN] = pd.Series([flags.get(k, "") for k in keys], index=out.index,
                                 dtype=object)
    return out


def is_flagged(row: Any) -> bool:
    """Whether a frame row (a Series or a dict) is a flagged point."""
    value = row.get(FLAG_COLUMN, "") if hasattr(row, "get") else ""
    return isinstance(value, str) and bool(value)


def marked(text: str, row: Any) -> str:
    """A cell's text, with MARK after it when its point is flagged."""
    return f"{text} {MARK}" if is_flagged(row) else text


def flag_lines(points: pd.DataFrame | Iterable[pd.DataFrame]) -> list[str]:
    """One line per flagged model and framework among `points` (a frame or several), saying
    what MARK means there; none when no point is flagged."""
    frames = [points] if isinstance(points, pd.DataFrame) else list(points)
    seen: dict[FlagKey, str] = {}
    for f in frames:
        if FLAG_COLUMN not in f.columns:
            continue
        for _, row in f[f[FLAG_COLUMN].fillna("") != ""].iterrows():
            seen.setdefault((row["model"], row["framework"], row["optimization"]),
                            row[FLAG_COLUMN])
    return [flag_line(key, reason) for key, reason in seen.items()]


def flag_line(key: FlagKey, reason: str, what: str = "figures are shown but do not measure"
              ) -> str:
    """"≠ model, framework (optimization): <reason>; its figures are shown but do not
    measure the same function" (`what`: the ratios' own wording)."""
    model, framework, optimization = key
    return f"{MARK} {model}, {framework} ({optimization}): {reason}; its {what} the same function"
