"""The report's "Serving" section (CONTRACT §14): the tune verdict, latency percentiles
against offered QPS (one line per configuration, the harness's and LoadGen's), throughput
against instances, and a table of configurations - all derived from the run's serving
points.

The verdict (`tune_verdict`, `verdict_text`) lives in `suite.serving.verdict`, which
`tune` uses too; it is re-exported here for the report's other sections.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from suite import stats
from suite.report.frames import model_title
from suite.report.plots import PLOTS_DIR, Picture
from suite.report.plots_common import Chart, Line, draw
from suite.serving.figures import bound_check, serving_figures, within_bound
from suite.serving.verdict import serving_points, stage_repeat, tune_verdict, verdict_text
from suite.spec import Measurement

__all__ = ["serving_blocks", "serving_points", "serving_table", "tune_verdict",
           "verdict_text", "tested_peaks", "latency_chart", "throughput_chart"]

SERVING_DIR = "serving"
OURS = ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms")
TABLE_COLUMNS = ["configuration", "scenario", "stage", "max batch", "offered QPS",
                 "achieved QPS", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
                 "LoadGen p50 ms", "LoadGen p90 ms", "LoadGen p99 ms", "LoadGen p99.9 ms",
                 "p99 bound", "queries", "LoadGen", "status / reasons"]


def _config(m: Measurement) -> str:
    return f"{m.spec.instances}x{m.spec.threads}"


def _latency_cells(f: dict[str, Any]) -> list[str]:
    """The harness's percentiles (p99 and p99.9 with their 95% CI, an open bound shown
    "≥ x"), then LoadGen's own."""
    ours = [f"{f[k]:.2f}" for k in OURS[:2]] + \
        [stats.ci_text(f[k], f[k + "_low"], f[k + "_high"]) for k in OURS[2:]]
    theirs = [f"{f['loadgen_' + k]:.2f}" if math.isfinite(f["loadgen_" + k]) else ""
              for k in OURS]
    return ours + theirs


def bound_cell(m: Measurement) -> str:
    """A Server point against its test's p99 bound (LoadGen's target latency): "held
    (100 ms)", or "not held (100 ms): why"; empty for other scenarios."""
    bound = (m.meta.get("load") or {}).get("p99_ms")
    if m.spec.scenario != "server" or m.status != "ok" or bound is None:
        return ""
    held, why = bound_check(m, float(bound))
    return f"held ({bound:g} ms)" if held else f"not held ({bound:g} ms): {why}"


def serving_table(points: list[Measurement]) -> pd.DataFrame:
    """One row per serving point, in the order measured."""
    rows = []
    for m in points:
        row: list[Any] = [_config(m), m.spec.scenario, m.spec.stage or "serve", m.spec.batch_size,
                          f"{m.spec.target_qps:g}" if m.spec.target_qps else ""]
        if m.status == "ok":
            f = serving_figures(m)
            row += [f"{f['achieved_qps']:.1f}"] + _latency_cells(f)
            row += [bound_cell(m), f["queries"], "VALID" if f["valid"] else "INVALID",
                    "; ".join(f["invalid_reasons"])[:200]]
        else:
            row += [""] * 11 + ["", f"{m.status}: {m.message}"[:200]]
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _line_key(m: Measurement) -> str:
    return f"{_config(m)} batch {m.spec.batch_size}"


def plotted_server_points(points: list[Measurement]) -> list[Measurement]:
    """The Server points a latency-vs-QPS plot shows: the first verification repeat's
    where a tune run has one (profiling tests one rate per candidate; the later repeats
    search near the peak, and are in the table), and only rates the system kept up with
    (completed >= 90% of offered: beyond that the p99 grows with the test's length, not
    with the rate)."""
    server = [m for m in points if m.status == "ok" and m.spec.scenario == "server"]
    verify = [m for m in server if stage_repeat(m.spec.stage) == 1]
    return [m for m in (verify or server)
            if within_bound(m, math.inf)]


def tested_peaks(points: list[Measurement]) -> dict[str, tuple[float, float]]:
    """Per configuration (instances x threads, max batch) of the Server points: the
    highest offered QPS whose p99 held the test's bound (LoadGen's target latency, judged
    by `figures.within_bound`: LoadGen's latency constraint first), and that bound; 0 QPS
    where none held."""
    out: dict[str, tuple[float, float]] = {}
    for m in points:
        bound = (m.meta.get("load") or {}).get("p99_ms")
        if m.spec.scenario != "server" or m.status != "ok" or bound is None:
            continue
        key = f"{_line_key(m)} ({m.spec.stage or 'serve'})"
        best = out.get(key, (0.0, bound))[0]
        held = m.spec.target_qps if within_bound(m, bound) else 0.0
        out[key] = (max(best, held), bound)
    return out


def spread_ticks(xs: list[float], ratio: float = 1.3) -> list[float]:
    """A subset of the sorted values, each at least `ratio` times the previous one, so
    that tick labels on a log axis do not overlap."""
    out: list[float] = []
    for x in sorted(set(xs)):
        if not out or x >= out[-1] * ratio:
            out.append(x)
    return out


def latency_chart(points: list[Measurement], percentile: str = "p99_ms") -> Chart | None:
    """A latency percentile against offered QPS, one line per configuration (instances x
    threads and max batch), the p99 bound drawn where the points carry one."""
    server = plotted_server_points(points)
    lines = []
    for key in sorted({_line_key(m) for m in server}):
        ms = sorted((m for m in server if _line_key(m) == key), key=lambda m: m.spec.target_qps)
        figures = [serving_figures(m) for m in ms]
        x = [m.spec.target_qps for m in ms]
        lines.append(Line(key, x, [f[percentile] for f in figures],
                          [f[percentile + "_low"] for f in figures],
                          [f[percentile + "_high"] for f in figures]))
        theirs = [(q, f["loadgen_" + percentile]) for q, f in zip(x, figures)
                  if math.isfinite(f["loadgen_" + percentile])]
        if theirs:
            lines.append(Line(f"{key} (LoadGen)", [q for q, _ in theirs],
                              [y for _, y in theirs]))
    if not lines:
        return None
    xs = [x for line in lines for x in line.x]
    bounds = {(m.meta.get("load") or {}).get("p99_ms") for m in server} - {None}
    ideal = Line(f"p99 bound {bounds.copy().pop():g} ms", [min(xs), max(xs)],
                 [bounds.pop()] * 2) if len(bounds) == 1 and percentile == "p99_ms" else None
    m0 = server[0].spec
    name = percentile[:-3].replace("_", ".")
    return Chart(title=f"{model_title(m0.model)} {name} latency against offered QPS "
                       f"({m0.framework}/{m0.optimization})",
                 subtitle=f"Server scenario (Poisson arrivals), batch timeout "
                          f"{m0.batch_timeout_ms:g} ms; harness (arrival to completion, "
                          "95% CI) and LoadGen (issue to completion); rates the system "
                          "fell behind on are left out", xlabel="offered QPS (log scale)",
                 ylabel=f"{name} latency (ms)", lines=lines, log2_x=True, ideal=ideal,
                 ticks=spread_ticks(xs))


def throughput_chart(points: list[Measurement]) -> Chart | None:
    """Best achieved QPS (Offline where measured, else Server) against instances."""
    ok = [m for m in points if m.status == "ok"]
    pick = [m for m in ok if m.spec.scenario == "offline"] or \
        [m for m in ok if m.spec.scenario == "server"]
    if not pick:
        return None
    best: dict[int, float] = {}
    for m in pick:
        best[m.spec.instances] = max(best.get(m.spec.instances, 0.0),
                                     serving_figures(m)["achieved_qps"])
    xs = sorted(best)
    return Chart(title=f"{model_title(pick[0].spec.model)} throughput against instances",
                 subtitle=f"{pick[0].spec.scenario} scenario, the best configuration with "
                          "that many instances (over threads per instance, batch sizes, rates)",
                 xlabel="instances", ylabel="achieved QPS",
                 lines=[Line("achieved QPS", [float(x) for x in xs], [best[x] for x in xs])])


def write_serving_plots(points: list[Measurement], run_dir: Path) -> list[Picture]:
    out = []
    folder = Path(run_dir) / PLOTS_DIR / SERVING_DIR
    for name, chart in (("latency-p99-vs-qps", latency_chart(points)),
                        ("latency-p50-vs-qps", latency_chart(points, "p50_ms")),
                        ("throughput-vs-instances", throughput_chart(points))):
        if chart is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        draw(chart, folder / f"{name}.png")
        out.append(Picture(f"{PLOTS_DIR}/{SERVING_DIR}/{name}.png", chart.title))
    return out


def serving_blocks(measurements: Iterable[Measurement], run_dir: Path) -> list[Any]:
    """The "Serving" section: verdict, pictures, table (empty for a run without serving)."""
    from suite.report.page import Bullets, Heading, Pictures, Table
    points = serving_points(measurements)
    if not points:
        return []
    blocks: list[Any] = [Heading(1, "Serving")]
    verdict = tune_verdict(points)
    if verdict is not None:
        blocks += [Heading(2, "Tune verdict"), Bullets([verdict_text(verdict)])]
    notes = ["latencies: the harness's (p50 ... p99.9 ms) time each query from its arrival "
             "at the system under test to its completion (queueing, dynamic batching and "
             "compute), percentiles with 95% CIs from the raw per-query latencies (\"≥ x\": "
             "too few queries for the upper bound); LoadGen's (LoadGen p50 ... ms) time it "
             "from its scheduled issue, and decide achieved QPS, VALID/INVALID and whether "
             "a Server test held its p99 bound (\"p99 bound\": LoadGen's latency "
             "constraint, the harness's p99 and keeping up, all three)"]
    if any(m.status == "ok" and not m.meta.get("valid") for m in points):
        notes.append("INVALID points did not meet LoadGen's rules (the table gives its "
                     "reasons: short tests have too few queries for its early-stopping "
                     "test); MLPerf-length runs need --duration 600 and LoadGen's minimum "
                     "query counts (docs/serving.md)")
    blocks.append(Bullets(notes))
    peaks = tested_peaks(points)
    if peaks:
        blocks += [Heading(2, "Highest offered QPS within the p99 bound (of the rates tested)"),
                   Bullets([f"{key}: {qps:g} QPS with p99 <= {bound:g} ms" if qps else
                            f"{key}: no tested rate kept p99 <= {bound:g} ms"
                            for key, (qps, bound) in peaks.items()])]
    pictures = write_serving_plots(points, run_dir)
    if pictures:
        blocks.append(Pictures(pictures))
    table = serving_table(points)
    table.to_csv(Path(run_dir) / "serving.csv", index=False)
    blocks += [Heading(2, "Configurations"), Table(table)]
    return blocks
