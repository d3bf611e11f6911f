"""Drawing one line chart the way the seed pages look: values printed beside each marker
(rounded to what their 95% CI supports) and the CI as error bars, one colour per line, a
light grid, the legend on top, the title naming what is fixed.

Matplotlib runs headless (Agg); this module knows nothing about runs or frameworks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib import colormaps  # noqa: E402  (the backend must be chosen first)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402

from suite import stats  # noqa: E402

FIGSIZE_IN = (12.0, 5.6)
DPI = 100
GRID_COLOUR = "#d9d9d9"
IDEAL_COLOUR = "black"
# Values are printed beside the markers up to this many lines; beyond it they would
# overlap into noise (the seed pictures with eleven batch-size lines print none either).
MAX_LABELLED_LINES = 5
LEGEND_COLUMNS = 6


@dataclass
class Line:
    """One series: a legend label and its points (x ascending), with the 95% CI of each
    y (drawn as error bars) where known."""

    label: str
    x: list[float]
    y: list[float]
    low: list[float] | None = None
    high: list[float] | None = None


@dataclass
class Chart:
    """Everything one picture shows."""

    title: str
    subtitle: str
    xlabel: str
    ylabel: str
    lines: list[Line]
    log2_x: bool = False
    ideal: Line | None = None          # drawn in black, without value labels
    value_suffix: str = ""
    include_zero: bool = False         # y axis reaches 0 (for signed quantities such as % loss)
    ticks: list[float] | None = None   # x ticks (default: every x of the data)


def format_value(v: float) -> str:
    """Three significant figures, no exponent: 902, 47.3, 4.73, 0.473 (`stats.significant`:
    for values without a CI, such as speedups and % loss)."""
    return stats.significant(v)


def colours(n: int) -> list:
    """n distinct colours: tab10 up to 10 lines, tab20 up to 20, then an evenly spaced hue wheel."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:   # tab20's dark shades first, then the light ones: neighbours differ
        return [colormaps["tab20"](i) for i in (list(range(0, 20, 2)) + list(range(1, 20, 2)))[:n]]
    wheel = colormaps["hsv"]
    return [wheel(i / n) for i in range(n)]


def _tick_label(x: float, _pos: object = None) -> str:
    return "default" if x == 0 else f"{x:g}"


def _style_axes(ax: Axes, chart: Chart, xs: Sequence[float]) -> None:
    if chart.log2_x:
        ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(xs if chart.ticks is None else chart.ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(_tick_label))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.grid(True, color=GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0, labelsize=12, colors="#444444")
    ax.set_xlabel(chart.xlabel, fontsize=12, color="#333333")
    ax.set_ylabel(chart.ylabel, fontsize=12, color="#333333")


def _draw_line(ax: Axes, line: Line, colour: object, suffix: str | None) -> None:
    """The line with its markers and 95% CI error bars; the values beside them, rounded to
    what their CI supports, unless `suffix` is None."""
    ax.plot(line.x, line.y, marker="o", markersize=5, linewidth=1.5, color=colour,
            label=line.label)
    if line.low is not None and line.high is not None:
        below = [max(0.0, y - lo) for y, lo in zip(line.y, line.low)]
        above = [max(0.0, hi - y) for y, hi in zip(line.y, line.high)]
        ax.errorbar(line.x, line.y, yerr=[below, above], fmt="none", ecolor=colour,
                    elinewidth=1.2, capsize=4)
    if suffix is None:
        return
    for i, (x, y) in enumerate(zip(line.x, line.y)):
        ax.annotate(_label(line, i) + suffix, (x, y), textcoords="offset points",
                    xytext=(3, 4), fontsize=10, color=colour)


def _label(line: Line, i: int) -> str:
    """The value of point i: to the digits its CI supports, else three significant figures."""
    if line.low is None or line.high is None:
        return format_value(line.y[i])
    return stats.rounded_to_ci(line.y[i], line.low[i], line.high[i])[0]


def _layout(fig: Figure, ax: Axes, legend_rows: int) -> None:
    """Fixed margins, leaving room on top for the two-line title and the legend rows
    (cheaper than a layout engine, and every picture of a page gets the same plot area)."""
    height_in = fig.get_figheight()
    top_in = 0.85 + 0.27 * legend_rows
    fig.subplots_adjust(left=0.075, right=0.98, bottom=0.1, top=1.0 - top_in / height_in)


def draw(chart: Chart, path: Path) -> None:
    """Render `chart` to a PNG at `path` (parent folders are created)."""
    if not any(line.x for line in chart.lines):
        raise ValueError(f"refusing to draw {path.name}: no data")
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)   # no pyplot: no global figure state to leak
    ax = fig.add_subplot()
    xs = sorted({x for line in chart.lines for x in line.x})
    _style_axes(ax, chart, xs)
    if chart.ideal is not None:
        ax.plot(chart.ideal.x, chart.ideal.y, color=IDEAL_COLOUR, linewidth=2,
                label=chart.ideal.label)
    labelled = len(chart.lines) <= MAX_LABELLED_LINES
    for line, colour in zip(chart.lines, colours(len(chart.lines))):
        _draw_line(ax, line, colour, chart.value_suffix if labelled else None)
    ax.margins(x=0.04, y=0.1)
    if chart.include_zero:
        ax.axhline(0.0, color="#888888", linewidth=0.8)
    n_labels = len(ax.get_legend_handles_labels()[1])
    columns = min(n_labels, LEGEND_COLUMNS)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False, ncol=columns,
              fontsize=10)
    fig.suptitle(chart.title + ("\n" + chart.subtitle if chart.subtitle else ""),
                 fontsize=14, color="#333333", y=0.985, va="top")
    _layout(fig, ax, -(-n_labels // columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")


# --- grouped bars ----------------------------------------------------------------------

@dataclass
class Bars:
    """One series of a grouped bar chart: a legend label and one value per group (NaN
    where not measured), with the 95% CI of each (drawn as whiskers) where known."""

    label: str
    values: list[float]
    low: list[float] | None = None
    high: list[float] | None = None


@dataclass
class BarChart:
    """Groups on the x axis (e.g. models), one bar per series in each group."""

    title: str
    subtitle: str
    ylabel: str
    groups: list[str]
    series: list[Bars]
    log_y: bool = False


def _bar_labels(ax: Axes, bars: Bars, xs: list[float], colour: object) -> None:
    for i, (x, y) in enumerate(zip(xs, bars.values)):
        if not math.isfinite(y):
            continue
        wide = bars.low is None or bars.high is None or \
            not bars.high[i] - bars.low[i] < y       # an interval wider than the value
        text = format_value(y) if wide else stats.rounded_to_ci(y, bars.low[i], bars.high[i])[0]
        top = y if bars.high is None or not math.isfinite(bars.high[i]) else bars.high[i]
        ax.annotate(text, (x, top), textcoords="offset points", xytext=(0, 3), ha="center",
                    fontsize=9, color=colour)


def draw_bars(chart: BarChart, path: Path) -> None:
    """Render a grouped bar chart with CI whiskers to a PNG at `path`."""
    if not chart.groups or not any(math.isfinite(v) for b in chart.series for v in b.values):
        raise ValueError(f"refusing to draw {path.name}: no data")
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    ax = fig.add_subplot()
    n = len(chart.series)
    width = 0.8 / max(1, n)
    for k, (bars, colour) in enumerate(zip(chart.series, colours(n))):
        xs = [g - 0.4 + width * (k + 0.5) for g in range(len(chart.groups))]
        ax.bar(xs, [v if math.isfinite(v) else 0.0 for v in bars.values], width * 0.92,
               color=colour, label=bars.label)
        if bars.low is not None and bars.high is not None:
            below = [max(0.0, y - lo) if math.isfinite(y) else 0.0
                     for y, lo in zip(bars.values, bars.low)]
            above = [max(0.0, hi - y) if math.isfinite(y) else 0.0
                     for y, hi in zip(bars.values, bars.high)]
            ax.errorbar(xs, [v if math.isfinite(v) else 0.0 for v in bars.values],
                        yerr=[below, above], fmt="none", ecolor="#333333", elinewidth=1.2,
                        capsize=4)
        _bar_labels(ax, bars, xs, colour)
    if chart.log_y:
        ax.set_yscale("log")
    ax.set_xticks(range(len(chart.groups)), chart.groups)
    ax.grid(True, axis="y", color=GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0, labelsize=12, colors="#444444")
    ax.set_ylabel(chart.ylabel, fontsize=12, color="#333333")
    columns = min(n, LEGEND_COLUMNS)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False, ncol=columns,
              fontsize=10)
    fig.suptitle(chart.title + ("\n" + chart.subtitle if chart.subtitle else ""),
                 fontsize=14, color="#333333", y=0.985, va="top")
    _layout(fig, ax, -(-n // columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
