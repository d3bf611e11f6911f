"""The report's "Where the time goes" section (`--profile`, CONTRACT §17), and its summary
lines.

Per model and configuration (a block: the points that differ only in framework and
optimization), a stacked bar per framework (mode): ms per step of each operator class of
`suite.profiling.classes`, in the classes' fixed order and colours, with the framework's
overhead as its own segment on top, so a bar is the profiled step; beside it the
unprofiled step. A table gives the same figures with each class's % of the step, the
profiler's own cost and the point's timed step. Every figure comes from a profiled
process and is labelled so: none of them is a timing figure.

The summary adds, per cross-framework verdict of the paired ratios (a lead called by
`suite.ratios.judge`) whose two variants were profiled, where the slower one's extra time
goes: "mxnet (hybridized)'s extra 9.8 ms per step over pytorch (eager) (ResNet-18, batch
4): 6.1 ms convolution, 2.9 ms layout/copies".
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from frameworks import mode_label
from suite.blocks import block_key
from suite.profiling.attribution import attribute, ms_text, step_ms
from suite.profiling.breakdown import PROFILE_CSV, is_profiled
from suite.profiling.classes import CLASSES, OVERHEAD, class_label
from suite.report.frames import model_title
from suite.report.page import Bullets, Heading, Links, Pictures, Table
from suite.report.plots import PLOTS_DIR, Picture
from suite.report.plots_common import DPI, FIGSIZE_IN, GRID_COLOUR, colours
from suite.spec import Measurement

TITLE = "Where the time goes"
OVERHEAD_COLOUR = "#eeeeee"
MAX_SUMMARY_LINES = 12


def class_colours() -> dict[str, Any]:
    """The fixed colour of each class (overhead grey), the same in every picture."""
    return {**dict(zip(CLASSES, colours(len(CLASSES)))), OVERHEAD: OVERHEAD_COLOUR}


def profiled_blocks(measurements: Sequence[Measurement]) -> dict[str, list[Measurement]]:
    """The profiled points (figures, not `unavailable`) by block, in first-seen order."""
    blocks: dict[str, list[Measurement]] = {}
    for m in measurements:
        if m.status == "ok" and is_profiled(m.profile) and not m.spec.arm:
            blocks.setdefault(block_key(m.spec), []).append(m)
    return blocks


def block_title(m: Measurement) -> str:
    """"ResNet-18, train, batch 4, 1 thread, cpu float32 size 64"."""
    s = m.spec
    threads = f"{s.threads} thread" + ("" if s.threads == 1 else "s") if s.threads else \
        "default threads"
    extra = "".join(f", {v}" for v in (s.mapping if s.mapping != "sequential" else "",
                                       "HT on" if s.ht else "",
                                       f"{s.memory} memory" if s.memory != "local" else "") if v)
    return (f"{model_title(s.model)}, {s.task}, batch {s.batch_size}, {threads}, {s.device} "
            f"{s.dtype} size {s.input_size}{extra}")


def breakdown_table(points: Sequence[Measurement]) -> pd.DataFrame:
    """Rows: each class, overhead, the profiled step, the unprofiled step, the profiler's
    cost and the timed step; a column per framework (mode): "ms (pct%)"."""
    columns = {mode_label(m.spec.framework, m.spec.optimization): m.profile for m in points}
    rows = []
    for cls in (*CLASSES, OVERHEAD):
        cells = {}
        for label, p in columns.items():
            ms = p["overhead_ms"] if cls == OVERHEAD else p["classes_ms"].get(cls, 0.0)
            pct = p["overhead_pct"] if cls == OVERHEAD else p["classes_pct"].get(cls, 0.0)
            cells[label] = f"{ms_text(ms)} ({pct:.0f}%)"
        rows.append({"ms per step": class_label(cls), **cells})
    for name, key in (("profiled step", "profiled_step_ms"),
                      ("unprofiled step", "unprofiled_step_ms"), ("timed step", "timed_step_ms")):
        rows.append({"ms per step": name, **{label: "-" if p.get(key) is None
                                             else ms_text(p[key]) for label, p in columns.items()}})
    rows.append({"ms per step": "profiler's own cost", **{
        label: f"{p['profiler_cost_pct']:+.1f}%" for label, p in columns.items()}})
    return pd.DataFrame(rows, columns=["ms per step", *columns])


def draw_stacked(points: Sequence[Measurement], title: str, path: Path) -> None:
    """One stacked bar per framework (mode): its classes' ms per step, then overhead; the
    unprofiled step as a black tick beside each bar."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    ax = fig.add_subplot()
    palette = class_colours()
    labels = [mode_label(m.spec.framework, m.spec.optimization) for m in points]
    for x, m in enumerate(points):
        bottom = 0.0
        for cls in (*CLASSES, OVERHEAD):
            ms = m.profile["overhead_ms"] if cls == OVERHEAD else m.profile["classes_ms"].get(cls, 0.0)
            if ms > 0:
                ax.bar(x, ms, 0.6, bottom=bottom, color=palette[cls],
                       hatch="//" if cls == OVERHEAD else None,
                       edgecolor="#777777" if cls == OVERHEAD else "white")
                bottom += ms
        ax.plot([x + 0.32, x + 0.42], [m.profile["unprofiled_step_ms"]] * 2, color="black",
                linewidth=2)
        ax.annotate(ms_text(bottom), (x, bottom), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize=10)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("ms per step (profiled)", fontsize=12, color="#333333")
    ax.grid(True, axis="y", color=GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0, labelsize=11, colors="#444444")
    handles = [Patch(facecolor=palette[c], hatch="//" if c == OVERHEAD else None,
                     label=class_label(c)) for c in (*CLASSES, OVERHEAD)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize=10)
    fig.suptitle(f"{title}\nwhere the time goes (black tick: the unprofiled step)",
                 fontsize=13, color="#333333")
    fig.subplots_adjust(left=0.07, right=0.78, bottom=0.1, top=0.86)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def where_time_blocks(measurements: Sequence[Measurement], run_dir: Path) -> list:
    """The section's blocks (pictures written under plots/); [] for a run not profiled."""
    profiled = [m for m in measurements if m.profile]
    if not profiled:
        return []
    blocks: list = [Heading(1, TITLE), Bullets(_notes(profiled))]
    for points in profiled_blocks(measurements).values():
        title = block_title(points[0])
        picture = Picture(f"{PLOTS_DIR}/where-time-{_slug(title)}.png", f"{title}: {TITLE}")
        draw_stacked(points, title, run_dir / picture.path)
        blocks += [Heading(2, title), Pictures([picture]), Table(breakdown_table(points))]
    missing = [m for m in profiled if not is_profiled(m.profile)]
    if missing:
        blocks += [Heading(2, "Not profiled"),
                   Bullets([f"{m.spec.label()}: {m.profile.get('reason', '')}" for m in missing])]
    return blocks + [Links([(PROFILE_CSV, PROFILE_CSV)])]


def _notes(profiled: Sequence[Measurement]) -> list[str]:
    profilers = sorted({m.profile["profiler"] for m in profiled if is_profiled(m.profile)})
    return ["every figure here comes from a separate profiled process (one per point, after "
            "the sweep), never from the timed ones: a bar is the profiled step, its "
            "classes' op self time plus the framework's overhead (profiled step − Σ op self "
            "time); the profiler's own cost is profiled / unprofiled step − 1",
            "profilers: " + ("; ".join(profilers) or "none ran")]


def where_time_lines(measurements: Sequence[Measurement], ratios: Sequence[Any]) -> list[str]:
    """Per cross-framework lead (a judged ratio's `lead`) whose two variants were profiled:
    where the slower one's extra time per step goes."""
    by_key = {m.spec.key(): m for m in measurements}
    lines = []
    for r in ratios:
        if not getattr(r, "lead", False) or getattr(r.spec, "arm", ""):
            continue
        a, b = by_key.get(r.reference.key()), by_key.get(r.spec.key())
        if a is None or b is None or not (is_profiled(a.profile) and is_profiled(b.profile)):
            continue
        fast, slow = (a, b) if step_ms(a.profile) <= step_ms(b.profile) else (b, a)
        lines.append(extra_time_line(fast, slow))
    return lines[:MAX_SUMMARY_LINES]


def extra_time_line(fast: Measurement, slow: Measurement, top: int = 3) -> str:
    """"mxnet (hybridized)'s extra 9.8 ms per step over pytorch (eager) (ResNet-18, batch
    4): 6.1 ms convolution, 2.9 ms layout/copies"."""
    found = attribute(fast.profile, slow.profile)
    parts = [p for p in found.parts if p.delta_ms > 0][:top] if found else []
    where = ", ".join(f"{ms_text(p.delta_ms)} ms {class_label(p.cls)}" for p in parts)
    extra = step_ms(slow.profile) - step_ms(fast.profile)
    s = slow.spec
    return (f"{mode_label(s.framework, s.optimization)}'s extra {ms_text(extra)} ms per step "
            f"over {mode_label(fast.spec.framework, fast.spec.optimization)} "
            f"({model_title(s.model)}, batch {s.batch_size}): {where or 'no class grew'}")
