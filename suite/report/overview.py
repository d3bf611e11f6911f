"""Pictures across models and frameworks, for both tasks: the ones people post.

Under `plots/`:

- `bars-<task>-bs<N>.png`: a grouped bar chart per batch size: models on the x axis, one
  bar per framework and mode ("pytorch (eager)"), throughput with its 95% CI as whiskers.
  Inference bars show each framework's base variant at the most threads it measured.
- `<model>-roofline-<task>.png`: achieved GFLOP/s against batch size (log-2 axis), one
  line per framework and mode (95% CI error bars), with the peak the points are divided
  by (`peak_basis`: the CPU's float32 FMA limit at the same thread count, or the GPU's
  matrix-product peak of the dtype) drawn as a horizontal line (`suite.peak`): how far each framework
  is from what the machine can do.

Drawn from ok points only; a bar chart needs two models or two series, a roofline one
point with a GFLOP/s figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from frameworks import mode_label
from suite import stats
from suite.report.flags import marked
from suite.report.frames import Run, base_variant, item_unit, model_order, model_title, \
    ok_points, select
from suite.report.plots import PLOTS_DIR, Picture
from suite.report.plots_common import BarChart, Bars, Chart, Line, draw, draw_bars

LOG_Y_RATIO = 30.0     # bars on a log axis when the largest is this many times the smallest


@dataclass
class OverviewPlots:
    bars: list[Picture] = field(default_factory=list)
    rooflines: list[Picture] = field(default_factory=list)
    peak_tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # task -> table

    def pictures(self) -> list[Picture]:
        return self.bars + self.rooflines


def comparable_points(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """The ok points of a task that compare frameworks fairly: per framework and model its
    base variant (sequential, local, HT off) at the most threads it measured; with a
    `series` column naming the framework and mode."""
    ok = ok_points(frame[frame["task"] == task])
    parts = []
    for _, points in ok.groupby(["framework", "model"], sort=False):
        base = select(points, **base_variant(points))
        parts.append(base[base["threads"] == base["threads"].max()])
    if not parts:
        return ok.assign(series=[])
    chosen = pd.concat(parts)
    return chosen.assign(series=[mode_label(f, o) for f, o in
                                 zip(chosen["framework"], chosen["optimization"])])


def _value(points: pd.DataFrame, column: str) -> float:
    """The one figure of a chart cell (`comparable_points` leaves one point per framework,
    mode, model and batch); NaN for an empty cell, an error for several."""
    if len(points) > 1:
        raise ValueError(f"a chart cell holds {len(points)} points: their configurations "
                         "must be told apart before they are drawn")
    return float(points[column].iloc[0]) if not points.empty else math.nan


def bar_chart(points: pd.DataFrame, task: str, batch: int) -> BarChart | None:
    """Models on x, one bar per framework (mode), at one batch size; None when there is
    nothing to compare (one model and one series)."""
    at = points[points["batch_size"] == batch]
    models = model_order(at["model"])
    series = list(dict.fromkeys(at["series"]))
    if not models or (len(models) < 2 and len(series) < 2):
        return None
    bars = []
    for label in series:
        cells = [at[(at["series"] == label) & (at["model"] == m)] for m in models]
        bars.append(Bars(label, [_value(c, "items_per_second") for c in cells],
                         [_value(c, "items_per_second_ci_low") for c in cells],
                         [_value(c, "items_per_second_ci_high") for c in cells]))
    finite = [v for b in bars for v in b.values if math.isfinite(v) and v > 0]
    units = {item_unit(m) for m in models}
    unit = units.pop() if len(units) == 1 else "items"
    threads = sorted({int(t) for t in at["threads"]})
    word = "Training" if task == "train" else "Inference"
    return BarChart(f"{word} throughput, batch size {batch}, frameworks compared",
                    f"threads: {', '.join(map(str, threads))} · 95% CI whiskers",
                    f"Throughput [{unit}/s]", [model_title(m) for m in models], bars,
                    log_y=bool(finite) and max(finite) / min(finite) > LOG_Y_RATIO)


def roofline_chart(points: pd.DataFrame, task: str, model: str,
                   peak: float | None, basis: str = "") -> Chart | None:
    """Achieved GFLOP/s against batch size for one model, one line per framework (mode)."""
    of_model = points[(points["model"] == model) & points["gflops_per_second"].notna()]
    if of_model.empty:
        return None
    lines = []
    for label, part in of_model.sort_values("batch_size").groupby("series", sort=False):
        scale = part["gflops_per_second"] / part["items_per_second"]   # GFLOP per item
        lines.append(Line(label, [float(b) for b in part["batch_size"]],
                          [float(g) for g in part["gflops_per_second"]],
                          [float(v) for v in part["items_per_second_ci_low"] * scale],
                          [float(v) for v in part["items_per_second_ci_high"] * scale]))
    threads = sorted({int(t) for t in of_model["threads"]})
    batches = sorted({float(b) for b in of_model["batch_size"]})
    ideal = None
    if peak:
        span = batches if len(batches) > 1 else [batches[0] / 2, batches[0] * 2]
        ideal = Line(f"peak ({basis or 'the machine peak'}): {peak:.0f} GFLOP/s",
                     [span[0], span[-1]], [peak, peak])
    word = "training (3x forward)" if task == "train" else "inference"
    return Chart(f"{model_title(model)}: achieved GFLOP/s vs batch size, {word}",
                 f"threads: {', '.join(map(str, threads))} · 95% CI error bars",
                 "Batch Size", "GFLOP/s", lines, log2_x=True, ideal=ideal, include_zero=True)


def peak_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per compared point: throughput, achieved GFLOP/s and % of the machine's peak."""
    rows = []
    for model in model_order(points["model"]):
        of_model = points[points["model"] == model].sort_values(["series", "batch_size"])
        for r in of_model.itertuples(index=False):
            percent = "n/a" if pd.isna(r.percent_of_peak) else \
                f"{stats.significant(r.percent_of_peak, 2)}%"
            rows.append([model_title(model), r.series, int(r.batch_size), int(r.threads),
                         marked(stats.ci_text(r.items_per_second, r.items_per_second_ci_low,
                                              r.items_per_second_ci_high), r._asdict()),
                         "n/a" if pd.isna(r.gflops_per_second)
                         else stats.significant(r.gflops_per_second),
                         "n/a" if pd.isna(r.peak_gflops_per_second)
                         else f"{r.peak_gflops_per_second:.0f}", percent])
    return pd.DataFrame(rows, columns=PEAK_COLUMNS)


PEAK_COLUMNS = ["model", "framework (mode)", "batch size", "threads", "items/s (95% CI)",
                "GFLOP/s", "peak GFLOP/s", "% of peak"]


def _peak_of(points: pd.DataFrame) -> float | None:
    peaks = points["peak_gflops_per_second"].dropna().unique()
    return float(peaks[0]) if len(peaks) == 1 else None


def _basis_of(points: pd.DataFrame) -> str:
    """What the single peak of `points` is (`peak_basis`), "" where it is not one."""
    bases = points.loc[points["peak_gflops_per_second"].notna(), "peak_basis"].dropna().unique()
    return str(bases[0]) if len(bases) == 1 else ""


def write_overview_plots(run: Run) -> OverviewPlots:
    """Draw the bar charts and rooflines of every task in the run into <run>/plots/."""
    result = OverviewPlots()
    for task in dict.fromkeys(run.frame["task"]):
        points = comparable_points(run.frame, task)
        if points.empty:
            continue
        for batch in sorted({int(b) for b in points["batch_size"]}):
            chart = bar_chart(points, task, batch)
            if chart is not None:
                rel = f"{PLOTS_DIR}/bars-{task}-bs{batch}.png"
                draw_bars(chart, Path(run.path) / rel)
                result.bars.append(Picture(rel, chart.title))
        result.peak_tables[task] = peak_table(points)
        for model in model_order(points["model"]):
            of_model = points[points["model"] == model]
            roof = roofline_chart(points, task, model, _peak_of(of_model), _basis_of(of_model))
            if roof is not None:
                rel = f"{PLOTS_DIR}/{model}-roofline-{task}.png"
                draw(roof, Path(run.path) / rel)
                result.rooflines.append(Picture(rel, roof.title))
    return result
