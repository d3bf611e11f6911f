"""Tables, plots and the report page of a run folder (CONTRACT §9).

`build_report(run_dir)` writes, into the run folder:

- `points.csv`: every point, one row each, with the figures recomputed from its samples
- `failures.csv`: the points that did not measure (status, message)
- training runs: `train-speed-*`, `train-memory-*`, `train-frameworks-bs*` (.md and .csv;
  see `suite.report.tables`)
- inference runs: `plots/<framework>/*.png` with a seed-style page per model
  (`plots/<framework>/<model>.md`), cross-framework pictures in `plots/` (see
  `suite.report.plots`)
- serving runs: `serving.csv` and `plots/serving/*.png`, a "Serving" section (see
  `suite.report.serving`)
- `index.md` and a self-contained `index.html` (see `suite.report.page`)

Rebuilding replaces what an earlier build wrote.
"""
from __future__ import annotations

from pathlib import Path

from suite.errors import UsageError
from suite.report.frames import Run, load_run
from suite.report.page import (environment_blocks, failure_blocks, imprecise_blocks,
                               inference_blocks, seed_page, summary_blocks, training_blocks,
                               write_page)
from suite.report.plots import PLOTS_DIR, variant_text, write_inference_plots
from suite.report.serving import serving_blocks
from suite.storage import load_measurements
from suite.report.scaleout import scaleout_blocks
from suite.report.tables import (cross_framework_tables, failures_table, imprecise_table,
                                 write_cross_tables, write_training_tables)

__all__ = ["build_report"]


def build_report(run_dir: Path) -> Path:
    """(Re)build every table, plot and the report page of a run; return index.md's path.

    Raises UsageError when the folder is not a readable run or cannot be written.
    """
    run = load_run(Path(run_dir))
    try:
        return _write_all(run)
    except OSError as e:
        raise UsageError(f"cannot write the report into {run.path}: {e}") from None


def _remove_old_outputs(run: Run) -> None:
    """Delete what an earlier build wrote, so no stale table or picture survives."""
    for pattern in ("train-*.md", "train-*.csv"):
        for path in run.path.glob(pattern):
            path.unlink()
    plots = run.path / PLOTS_DIR
    if plots.is_dir():
        for path in list(plots.rglob("*.png")) + list(plots.rglob("*.md")):
            path.unlink()


def _write_all(run: Run) -> Path:
    _remove_old_outputs(run)
    run.frame.to_csv(run.path / "points.csv", index=False)
    failures = failures_table(run)
    failures.to_csv(run.path / "failures.csv", index=False)
    training = write_training_tables(run, run.path)
    cross = cross_framework_tables(run, [t.group for t in training])
    write_cross_tables(cross, run.path)
    plots = write_inference_plots(run)
    for mp in plots.models:
        if mp.pictures():
            page = run.path / PLOTS_DIR / mp.framework / f"{mp.model}.md"
            page.write_text(seed_page(mp))
    blocks = (summary_blocks(run) + serving_blocks(load_measurements(run.path), run.path)
              + training_blocks(training, cross) + scaleout_blocks(run)
              + inference_blocks(plots, variant_text) + failure_blocks(failures)
              + imprecise_blocks(imprecise_table(run))
              + environment_blocks(run))
    return write_page(run, blocks)
