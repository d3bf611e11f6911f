"""The failures table (every point that did not measure) and the points that measured
without reaching the precision target, for `failures.csv` and the report page."""
from __future__ import annotations

from typing import Any

import pandas as pd

from suite.report.frames import Run, model_title

FAILURE_COLUMNS = ["task", "framework", "optimization", "model", "batch size", "threads",
                   "variant", "status", "message"]


def failures_table(run: Run) -> pd.DataFrame:
    """Every point that did not measure: its identity, status and message."""
    failed = run.frame[run.frame["status"] != "ok"]
    rows = [[r.task, r.framework, r.optimization, model_title(r.model), int(r.batch_size),
             int(r.threads), variant_text(r._asdict()), r.status, r.message]
            for r in failed.itertuples(index=False)]
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


IMPRECISE_COLUMNS = ["task", "framework", "optimization", "model", "batch size", "threads",
                     "variant", "iterations", "CI half-width", "message"]


def imprecise_table(run: Run) -> pd.DataFrame:
    """Measured points that did not reach the precision target (kept, but flagged); the
    CI half-width is the larger of the median's and the throughput's (relative)."""
    frame = run.frame
    # serving points have no precision target: LoadGen's verdict is in the Serving section
    ok = frame[(frame["status"] == "ok") & frame["precision_reached"].eq(False)
               & (frame["task"] != "serve")]
    rows = [[r.task, r.framework, r.optimization, model_title(r.model), int(r.batch_size),
             int(r.threads), variant_text(r._asdict()), int(r.iterations),
             f"±{r.achieved_precision * 100:.1f}%" if r.iterations > 1 else "n/a",
             r.message] for r in ok.itertuples(index=False)]
    return pd.DataFrame(rows, columns=IMPRECISE_COLUMNS)


def variant_text(row: dict[str, Any]) -> str:
    """A short description of a point's placement and precision, e.g. "cpu float32 remote"."""
    parts = [str(row["device"]), str(row["dtype"]), f"size {row['input_size']}"]
    if row["mapping"] != "sequential":
        parts.append(str(row["mapping"]))
    if row["ht"]:
        parts.append("HT on")
    if row["memory"] != "local":
        parts.append(f"{row['memory']} memory")
    return " ".join(parts)
