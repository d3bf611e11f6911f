"""The cross-framework training tables: per batch size, rows = models, columns = frameworks
(mode), images/sec with its 95% CI, and where the run has no paired ratios (one process per
point) the lead column: the fastest in bold when its CI lies above every other's
(`suite.report.ratio_section` replaces it with paired ratios where the run has them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from suite.report.flags import flag_lines
from suite.report.frames import Run, model_title
from suite.report.gpu import gpu_notes
from suite.report.tables import (CI_LINE, LEAD_HEADER, NO_SIGNIFICANT_DIFFERENCE, SPEED_TITLE,
                                 TrainGroup, batches_of, bounds_cell, cell_text,
                                 hardware_line, models_of, point_at, section_markdown,
                                 speed_text, with_ci_columns, write_csv)


@dataclass
class CrossTable:
    batch_size: int
    table: pd.DataFrame        # display cells, the fastest in **bold**
    lines: list[str]
    csv: pd.DataFrame | None = None    # plain values with CI bound columns
    files: list[str] = field(default_factory=list)



def cross_framework_tables(run: Run, groups: list[TrainGroup]) -> list[CrossTable]:
    """Per batch size: rows = models, columns = framework (mode), images/sec, and the lead."""
    if len(groups) < 2:
        return []
    every = pd.concat([g.points for g in groups])
    models, tables = models_of(run, every), []
    for batch in batches_of(run, every):
        data = {"model": [model_title(m) for m in models]}
        bounds = {}
        for g in groups:
            data[g.label] = [cell_text(g.points, m, batch, speed_text) for m in models]
            bounds[g.label] = [bounds_cell(g.points, m, batch) for m in models]
        csv = with_ci_columns(pd.DataFrame(data), bounds)
        leads = []
        for i, m in enumerate(models):
            winner, lead = significant_lead({g.label: point_at(g.points, m, batch) for g in groups})
            leads.append(lead)
            if winner is not None:
                data[winner][i] = f"**{data[winner][i]}**"
        table = pd.DataFrame({**data, LEAD_HEADER: leads})
        lines = [f"batch size: {batch}",
                 f"Optimizer: {str(run.info.config.get('optimizer') or 'sgd').upper()}",
                 hardware_line(run, groups[0].conditions), *gpu_notes(every),
                 *flag_lines(every), CI_LINE,
                 "bold: the fastest, where the low bound of its 95% CI lies above every other "
                 "column's high bound; lead: its images/sec over the next fastest"]
        tables.append(CrossTable(batch, table, lines, csv.assign(**{LEAD_HEADER: leads})))
    return tables


def significant_lead(cells: dict[str, pd.Series | None]) -> tuple[str | None, str]:
    """The column that wins a row, if its lead is significant, and the lead column's text.

    Significant: the low bound of the fastest point's throughput CI exceeds the high bound of
    every other measured point's CI ("1.50x" over the next fastest). Otherwise no winner and
    "no significant difference"; with fewer than two measured points there is no contest.
    """
    measured = {label: p for label, p in cells.items() if p is not None and p["status"] == "ok"}
    if len(measured) < 2:
        return None, "one measured" if measured else "none measured"
    ranked = sorted(measured, key=lambda label: measured[label]["items_per_second"], reverse=True)
    best, others = measured[ranked[0]], [measured[label] for label in ranked[1:]]
    if best["items_per_second_ci_low"] <= max(p["items_per_second_ci_high"] for p in others):
        return None, NO_SIGNIFICANT_DIFFERENCE
    return ranked[0], f"{best['items_per_second'] / others[0]['items_per_second']:.2f}x"


def write_cross_tables(tables: list[CrossTable], out_dir: Path) -> None:
    for t in tables:
        stem = f"train-frameworks-bs{t.batch_size}"
        (out_dir / f"{stem}.md").write_text(
            "# Benchmark\n\n" + section_markdown(SPEED_TITLE, t.lines, t.table))
        write_csv(t.csv, out_dir / f"{stem}.csv")
        t.files += [f"{stem}.md", f"{stem}.csv"]

