"""Tables, plots and the report page of a run folder (CONTRACT §9).

`build_report(run_dir)` writes, into the run folder:

- `points.csv`: every point, one row each, with the figures recomputed from its samples
  (control arms included, `arm` "control")
- `ratios.csv`: each variant's paired throughput ratio to its block's reference with its
  95% CI, minimum detectable effect and verdict, and a "Ratios" section with the run's
  certificate (see `suite.ratios`, `suite.report.ratio_tables`); the cross-framework
  tables and the summary state these ratios
- `failures.csv`: the points that did not measure (status, message)
- training runs: `train-speed-*`, `train-memory-*`, `train-frameworks-bs*` (.md and .csv;
  see `suite.report.tables`)
- inference runs: `plots/<framework>/*.png` with a seed-style page per model
  (`plots/<framework>/<model>.md`), cross-framework pictures in `plots/` (see
  `suite.report.plots`)
- serving runs: `serving.csv` and `plots/serving/*.png`, a "Serving" section (see
  `suite.report.serving`)
- data-parallel runs: `scaling.md` / `scaling.csv` (see `suite.report.scaleout`)
- a "Where the time goes" section for a profiled run (`--profile`, `profile RUN_DIR`):
  per model and configuration stacked bars of ms per step per operator class and a table,
  and summary lines on where a slower framework's extra time goes (see
  `suite.report.where_time`; profile.csv is written by `suite.profiling`)
- an "Energy" section: joules per item and watts where a meter measured them, else why
  not (see `suite.report.energy`)
- `plots/bars-<task>-bs<N>.png` and `plots/<model>-roofline-<task>.png`: frameworks
  compared across models, and achieved GFLOP/s against the machine's peak (see
  `suite.report.overview`)
- `index.md` and a self-contained `index.html`: the summary of `suite.report.summary` on
  top, a table of contents, collapsible sections (see `suite.report.layout`, `.page`)

Rebuilding replaces what an earlier build wrote.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from suite.errors import UsageError
from suite.equivalence import report_lines
from suite.report.energy import energy_blocks
from suite.report.flags import flag_lines
from suite.report.frames import Run, load_run
from suite.report.layout import Section, anchor, sections_from, write_sections
from suite.report.overview import write_overview_plots
from suite.report.page import (Bullets, Heading, Pictures, Table, environment_blocks,
                               failure_blocks, files_blocks, fingerprint_box, headline_blocks,
                               imprecise_blocks, inference_sections, seed_page,
                               summary_blocks, training_sections)
from suite.report.plots import PLOTS_DIR, variant_text, write_inference_plots
from suite.report.ratio_section import RATIOS_TITLE, ratio_blocks, with_ratio_columns
from suite.report.ratio_tables import ratios_of, write_ratios_csv
from suite.report.scaleout import scaleout_blocks
from suite.report.serving import serving_blocks, tune_verdict, verdict_text
from suite.report.summary import SummarySection, summarize
from suite.report.cross_tables import cross_framework_tables, write_cross_tables
from suite.report.failures import failures_table, imprecise_table
from suite.report.tables import write_training_tables
from suite.report.where_time import TITLE as WHERE_TITLE, where_time_blocks, where_time_lines

__all__ = ["build_report", "build_report_with_summary"]


def build_report(run_dir: Path, extra_summary: Sequence[SummarySection] = ()) -> Path:
    """(Re)build every table, plot and the report page of a run; return index.md's path.

    `extra_summary`: more headline sections (e.g. the serving verdict of `tune`), shown
    after the computed ones. Raises UsageError when the folder is not a readable run or
    cannot be written.
    """
    return build_report_with_summary(run_dir, extra_summary)[0]


def build_report_with_summary(run_dir: Path, extra_summary: Sequence[SummarySection] = ()
                              ) -> tuple[Path, list[SummarySection]]:
    """`build_report`, also returning the headline the page shows (for the console)."""
    run = load_run(Path(run_dir))
    try:
        return _write_all(run, extra_summary)
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


def _write_all(run: Run, extra_summary: Sequence[SummarySection] = ()
               ) -> tuple[Path, list[SummarySection]]:
    _remove_old_outputs(run)
    (run.frame if run.points is None else run.points).to_csv(run.path / "points.csv",
                                                             index=False)
    failures = failures_table(run)
    failures.to_csv(run.path / "failures.csv", index=False)
    ratios = ratios_of(run)
    write_ratios_csv(ratios.ratios, run.path)
    training = write_training_tables(run, run.path)
    groups = [t.group for t in training]
    cross = with_ratio_columns(cross_framework_tables(run, groups), groups, ratios.ratios)
    write_cross_tables(cross, run.path)
    plots = write_inference_plots(run)
    for mp in plots.models:
        if mp.pictures():
            page = run.path / PLOTS_DIR / mp.framework / f"{mp.model}.md"
            page.write_text(seed_page(mp))
    overview = write_overview_plots(run)
    measurements = run.measurements
    verdict = tune_verdict(measurements)
    if verdict is not None:   # the serving verdict of a `tune` run heads its summary
        extra_summary = [SummarySection("Serving", [verdict_text(verdict)]), *extra_summary]
    if run.info.equivalence:   # --model-file: the same function as the file, or flagged
        extra_summary = [SummarySection("Your own models", report_lines(run.info.equivalence)),
                         *extra_summary]
    where = where_time_lines(measurements, ratios.comparisons)   # profiled runs only
    if where:
        extra_summary = [*extra_summary, SummarySection(WHERE_TITLE, where)]
    headline = summarize(run.frame, run.info.config, run.info.environment, extra_summary,
                         ratios)
    taken: set[str] = set()

    def section(title: str, blocks: list, collapsible: bool = False) -> list[Section]:
        return [Section(anchor(title, taken), title, blocks, collapsible)] if blocks else []

    # The page, in order; a new part of the report is one more entry here.
    sections = (
        section("Summary", headline_blocks(headline) + [fingerprint_box(run)])
        + section("About this run", summary_blocks(run))
        + section("Files", files_blocks(run.path))
        + section("Serving", serving_blocks(measurements, run.path))
        + section(RATIOS_TITLE, ratio_blocks(ratios), True)
        + section("Frameworks compared and distance to peak",
                  _overview_blocks(overview, flag_lines(run.frame)), True)
        + sections_from(training_sections(training, cross), taken)
        + section("Scale-out", scaleout_blocks(run), True)
        + sections_from(inference_sections(plots, variant_text), taken)
        + section(WHERE_TITLE, where_time_blocks(measurements, run.path), True)
        + section("Energy", energy_blocks(run.frame), True)
        + section("Failed and skipped points", failure_blocks(failures), True)
        + section("Precision not reached", imprecise_blocks(imprecise_table(run)), True)
        + section("Environment", environment_blocks(run), True))
    return write_sections(run.path, f"dlbench report: {run.info.run_id}", sections), headline


def _overview_blocks(overview, flags: list[str]) -> list:
    blocks: list = []
    if overview.bars:
        blocks += [Heading(2, "Throughput per batch size (95% CI whiskers)"),
                   Pictures(overview.bars)]
    if overview.rooflines:
        blocks += [Heading(2, "Achieved GFLOP/s against the machine's peak"),
                   Pictures(overview.rooflines)]
    for task, table in overview.peak_tables.items():
        blocks += [Heading(2, f"Distance to peak ({task})"),
                   Bullets(["GFLOP/s from each model's analytic FLOPs (2 x multiply-adds; "
                            "training 3 x forward); peak: the one each point is divided "
                            "by (on a CPU the float32 FMA limit at the same thread count, "
                            "on a GPU the matrix-product peak of its dtype; run.json has "
                            "how it was measured); every point's figures are in points.csv "
                            "(`gflops_per_second`, `percent_of_peak`, `peak_basis`)", *flags]),
                   Table(table)]
    return ([Heading(1, "Frameworks compared and distance to peak")] + blocks) if blocks else []
