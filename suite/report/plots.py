"""Inference plots (CONTRACT §9), named as in the seed pages.

Per framework and model, under `plots/<framework>/` (also when a run has one framework, so
paths do not change when a framework is added):

- `<model>-latency-<bs>.png`, `<model>-throughput-<bs>.png`: x = threads, lines = optimizations
- `<model>-latency-<opt>.png`, `<model>-throughput-<opt>.png`: x = threads, lines = batch sizes
- `<model>-throughput-speedup-<opt>.png`: throughput relative to the smallest thread count
  swept (1 when swept), lines = batch sizes, with the ideal linear line
- `<model>-throughput-<opt>-perBS.png`: x = batch size (log-2 axis), lines = thread counts
- remote vs local memory: `<model>-latency-remote-local-<bs>.png` and
  `<model>-throughput-remote-local-<bs>.png` (both lines per optimization, seed 001's
  "Latency Per Batch"), `<model>-latency-ratio-<bs>.png` / `<model>-throughput-ratio-<bs>.png`
  (% loss of remote versus local per thread count, lines = optimizations)
- hyper-threading off/on: `<model>-latency-<opt>-<False|True>.png`,
  `<model>-throughput-<opt>-<False|True>.png` (lines = batch sizes, seed 004)

Across frameworks, under `plots/`: `<model>-frameworks-latency-<bs>.png` and
`<model>-frameworks-throughput-<bs>.png` (x = threads, lines = framework and the mode that
ran, e.g. "mxnet (hybridized)"), drawn only when at least two frameworks measured the
model (one framework's optimizations are already compared by `<model>-latency-<bs>.png`).
Within a framework, an optimization is labelled with its mode too: "opt=SCRIPT (TorchScript)".

A run of several dtypes (`--dtype float32,bfloat16`) never mixes them in one line: each
line's variant is its optimization and dtype ("opt=NONE (eager) bfloat16", "pytorch
(eager) bfloat16"), and a picture per optimization becomes one per optimization and dtype
(`<model>-latency-none-bfloat16.png`, ...).

Latency is the median time per batch in ms; throughput is items/s (Σ items / Σ step time),
both recomputed from the raw samples, each drawn with its 95% CI as error bars (speedup
lines carry each point's own CI, scaled; % loss lines the range both CIs allow). Base views show the
sequential-mapping, local-memory, HT-off variant (or what the run swept instead). A
picture is drawn only from ok points and only for a dimension the run swept: x = threads
needs two thread counts, x = batch size two batch sizes, remote/local both memory
variants, HT both settings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from frameworks import mode_label, mode_name
from suite.report.frames import (Run, base_variant, dtype_suffix, item_unit, model_order,
                                 model_title, ok_points, select, swept_dtypes)
from suite.report.plots_common import Chart, Line, draw

PLOTS_DIR = "plots"
LATENCY = ("median_ms", "Latency per batch, median [ms]", "Latency")
# "{items}" becomes the model's unit when drawn (images or sequences: see _Target.draw)
THROUGHPUT = ("items_per_second", "Throughput [{items}/s]", "Throughput")
THREADS_LABEL = "# threads"

# Section keys of ModelPlots, in page order.
SECTIONS = ("latency_per_batch", "latency_per_opt", "latency_ht",
            "throughput_per_batch", "throughput_per_opt", "throughput_ht", "speedup", "per_bs",
            "rl_latency", "rl_latency_loss", "rl_throughput", "rl_throughput_loss")


@dataclass
class Picture:
    """A drawn PNG: its path relative to the run folder and its alt text."""

    path: str
    alt: str


@dataclass
class ModelPlots:
    """The pictures of one framework and model, by page section."""

    framework: str
    model: str
    variant: dict[str, Any]
    sections: dict[str, list[Picture]] = field(default_factory=lambda: {s: [] for s in SECTIONS})

    def pictures(self) -> list[Picture]:
        return [p for s in SECTIONS for p in self.sections[s]]


@dataclass
class InferencePlots:
    models: list[ModelPlots] = field(default_factory=list)
    cross: dict[str, list[Picture]] = field(default_factory=dict)   # model -> pictures


@dataclass
class _Target:
    """Where a framework/model's pictures go and how they are titled."""

    run_dir: Path
    folder: str
    model: str
    framework: str
    variant: dict[str, Any]
    several_dtypes: bool = False     # lines and names carry the dtype (VARIANT column)

    @property
    def free(self) -> tuple[str, ...]:
        """The fields a base view leaves free: the dtype where each line names its own."""
        return ("dtype",) if self.several_dtypes else ()

    def draw(self, name: str, chart: Chart, alt: str) -> Picture | None:
        """Draw when the chart has enough data (see the module docstring)."""
        if not _enough(chart):
            return None
        rel = f"{self.folder}/{self.model}-{name}.png"
        chart = dataclasses.replace(chart, ylabel=chart.ylabel.replace(
            "{items}", item_unit(self.model)))
        draw(chart, self.run_dir / rel)
        return Picture(rel, f"{model_title(self.model)} {alt}")

    def subtitle(self, *free: str) -> str:
        return variant_text(self.framework, self.variant, free)

    def opt(self, variant: str) -> str:
        """"SCRIPT (hybridized)": the --opts value and the mode it ran in this framework,
        then the dtype where the run has several ("SCRIPT (hybridized) bfloat16")."""
        optimization, _, dtype = str(variant).partition(VARIANT_SEPARATOR)
        return f"{optimization.upper()} ({mode_name(self.framework, optimization)})" + \
            (f" {dtype}" if dtype else "")


# A line's variant within a framework: its optimization, and "-<dtype>" where the run has
# several dtypes (a column of its own, so every view groups by one key).
VARIANT = "variant"
VARIANT_SEPARATOR = "-"


def with_variant(points: pd.DataFrame, several_dtypes: bool) -> pd.DataFrame:
    """`points` with the VARIANT column: "none", or "none-bfloat16" with several dtypes."""
    return points.assign(**{VARIANT: [
        f"{o}{VARIANT_SEPARATOR}{d}" if several_dtypes else str(o)
        for o, d in zip(points["optimization"], points["dtype"])]})


def variant_text(framework: str, variant: dict[str, Any], free: tuple[str, ...] = ()) -> str:
    """"pytorch · cpu · float32 · input 224 · sequential · memory local · HT off"."""
    v = variant
    parts = [framework, v.get("device"), v.get("dtype"), f"input {v.get('input_size')}",
             f"{v.get('mapping')} mapping"]
    if "memory" not in free:
        parts.append(f"memory {v.get('memory')}")
    if "ht" not in free:
        parts.append("HT on" if v.get("ht") else "HT off")
    return " · ".join(str(p) for p in parts if p is not None)


def _enough(chart: Chart) -> bool:
    xs = {x for line in chart.lines for x in line.x}
    return len(xs) >= 2


# The 95% CI columns of the figures the plots show: drawn as error bars.
CI_COLUMNS = {"median_ms": ("ci_low_ms", "ci_high_ms"),
              "items_per_second": ("items_per_second_ci_low", "items_per_second_ci_high"),
              "loss": ("loss_low", "loss_high")}


def _lines(points: pd.DataFrame, x: str, by: str, y: str,
           label: Callable[[Any], str]) -> list[Line]:
    """One line per value of `by`, points sorted by `x`, NaN values left out; with the 95%
    CI of `y` where the frame has one (see CI_COLUMNS)."""
    lines = []
    low_col, high_col = CI_COLUMNS.get(y, (None, None))
    for key, part in points.sort_values([by, x]).groupby(by, sort=True):
        part = part[part[y].notna()]
        if part.empty:
            continue
        line = Line(label(key), [float(v) for v in part[x]], [float(v) for v in part[y]])
        if low_col in part and high_col in part:
            line.low = [float(v) for v in part[low_col]]
            line.high = [float(v) for v in part[high_col]]
        lines.append(line)
    return lines




# --- per framework and model -----------------------------------------------------------

def model_plots(run: Run, framework: str, model: str, points: pd.DataFrame,
                several_dtypes: bool = False) -> ModelPlots:
    """Every picture of one framework and model that its points support."""
    free = ("dtype",) if several_dtypes else ()
    variant = base_variant(points, free)
    points = with_variant(points, several_dtypes)
    folder = f"{PLOTS_DIR}/{framework}"
    target = _Target(run.path, folder, model, framework, variant, several_dtypes)
    result = ModelPlots(framework, model, variant)
    base = select(ok_points(points), **variant)
    for metric, key in ((LATENCY, "latency"), (THROUGHPUT, "throughput")):
        result.sections[f"{key}_per_batch"] += _per_batch(target, base, metric)
        result.sections[f"{key}_per_opt"] += _per_opt(target, base, metric)
    result.sections["speedup"] += _speedup(target, base)
    result.sections["per_bs"] += _per_bs(target, base)
    _ht(target, points, result)
    _remote_local(target, points, result)
    return result


def _keep(pictures: list[Picture | None]) -> list[Picture]:
    return [p for p in pictures if p is not None]


def _per_batch(t: _Target, base: pd.DataFrame, metric: tuple[str, str, str]) -> list[Picture]:
    col, ylabel, word = metric
    out = []
    for bs, part in base.groupby("batch_size", sort=True):
        chart = Chart(f"{model_title(t.model)}: Threads vs {word} (BS={bs})", t.subtitle(),
                      THREADS_LABEL, ylabel,
                      _lines(part, "threads", VARIANT, col, lambda o: f"opt={t.opt(o)}"))
        out.append(t.draw(f"{word.lower()}-{bs}", chart, f"{word} BS={bs}"))
    return _keep(out)


def _per_opt(t: _Target, base: pd.DataFrame, metric: tuple[str, str, str],
             ht: bool | None = None) -> list[Picture]:
    col, ylabel, word = metric
    out = []
    for opt, part in base.groupby(VARIANT, sort=True):
        fixed = f"Opt={t.opt(opt)}" + ("" if ht is None else f", HT={ht}")
        chart = Chart(f"{model_title(t.model)}: Threads vs {word} ({fixed})",
                      t.subtitle() if ht is None else t.subtitle("ht"), THREADS_LABEL, ylabel,
                      _lines(part, "threads", "batch_size", col, lambda b: f"Batch={b}"))
        name = f"{word.lower()}-{opt}" + ("" if ht is None else f"-{ht}")
        out.append(t.draw(name, chart, f"{word} {fixed}"))
    return _keep(out)


def _speedup(t: _Target, base: pd.DataFrame) -> list[Picture]:
    out = []
    for opt, part in base.groupby(VARIANT, sort=True):
        threads = sorted(int(x) for x in part["threads"].unique() if x > 0)
        if len(threads) < 2:
            continue
        first = threads[0]
        lines = []
        for line in _lines(part, "threads", "batch_size", "items_per_second",
                           lambda b: f"Batch={b}"):
            if first in line.x:   # a line without the baseline point cannot be normalised
                # error bars: each point's own CI, scaled (the baseline's is not added)
                reference = line.y[line.x.index(first)]
                lines.append(Line(line.label, line.x, [y / reference for y in line.y],
                                  _scaled(line.low, reference), _scaled(line.high, reference)))
        unit = "thread" if first == 1 else "threads"
        ideal = Line("ideal (linear)", [float(first), float(threads[-1])],
                     [1.0, threads[-1] / first])
        chart = Chart(f"{model_title(t.model)}: Throughput Speedup (Opt={t.opt(opt)})",
                      t.subtitle(), THREADS_LABEL, f"Speedup vs {first} {unit}", lines,
                      ideal=ideal)
        if lines:
            out.append(t.draw(f"throughput-speedup-{opt}", chart, f"Speedup Opt={t.opt(opt)}"))
    return _keep(out)


def _scaled(values: list[float] | None, reference: float) -> list[float] | None:
    return None if values is None else [v / reference for v in values]


def _per_bs(t: _Target, base: pd.DataFrame) -> list[Picture]:
    out = []
    for opt, part in base.groupby(VARIANT, sort=True):
        chart = Chart(f"{model_title(t.model)}: Batch-Size vs Throughput (Opt={t.opt(opt)})",
                      t.subtitle(), "Batch Size", THROUGHPUT[1],
                      _lines(part, "batch_size", "threads", "items_per_second",
                             lambda n: f"Threads={n}"), log2_x=True)
        out.append(t.draw(f"throughput-{opt}-perBS", chart,
                          f"Throughput per BS Opt={t.opt(opt)}"))
    return _keep(out)


def _ht(t: _Target, points: pd.DataFrame, result: ModelPlots) -> None:
    """HT off and on, per optimization (seed 004), when both were measured."""
    variant = base_variant(points, free=("ht",) + t.free)
    swept = select(ok_points(points), **variant)
    if swept["ht"].nunique() < 2:
        return
    for ht in (False, True):
        part = swept[swept["ht"] == ht]
        result.sections["latency_ht"] += _per_opt(t, part, LATENCY, ht)
        result.sections["throughput_ht"] += _per_opt(t, part, THROUGHPUT, ht)


def _remote_local(t: _Target, points: pd.DataFrame, result: ModelPlots) -> None:
    """Remote versus local memory (seed 001), when both were measured."""
    variant = base_variant(points, free=("memory",) + t.free)
    swept = select(ok_points(points), **variant)
    if swept["memory"].nunique() < 2:
        return
    for bs, part in swept.groupby("batch_size", sort=True):
        for metric, key in ((LATENCY, "latency"), (THROUGHPUT, "throughput")):
            result.sections[f"rl_{key}"] += _keep([_both(t, part, bs, metric)])
            result.sections[f"rl_{key}_loss"] += _keep([_loss(t, part, bs, metric)])


def _both(t: _Target, part: pd.DataFrame, bs: int, metric: tuple[str, str, str]) -> Picture | None:
    col, ylabel, word = metric
    labelled = part.assign(line=[f"memory={m.upper()}, opt={t.opt(o)}"
                                 for m, o in zip(part["memory"], part[VARIANT])])
    chart = Chart(f"{model_title(t.model)}: Threads vs {word}, remote vs local memory (BS={bs})",
                  t.subtitle("memory"), THREADS_LABEL, ylabel,
                  _lines(labelled, "threads", "line", col, str))
    return t.draw(f"{word.lower()}-remote-local-{bs}", chart, f"{word} remote vs local BS={bs}")


def _loss(t: _Target, part: pd.DataFrame, bs: int, metric: tuple[str, str, str]) -> Picture | None:
    """% loss of remote versus local per thread count: slower latency, lower throughput."""
    col, _, word = metric
    low_col, high_col = CI_COLUMNS[col]
    keys = [VARIANT, "threads"]
    frames = {}
    for memory in ("local", "remote"):
        part_m = part[part["memory"] == memory].set_index(keys)
        frames[memory] = part_m[col]
        frames[memory + "_low"], frames[memory + "_high"] = part_m[low_col], part_m[high_col]
    both = pd.concat(frames, axis=1).dropna(subset=["local", "remote"]).reset_index()
    # the loss's error bars: the extreme ratios the two 95% CIs allow (interval arithmetic)
    if word == "Latency":
        both["loss"] = (both["remote"] / both["local"] - 1.0) * 100.0
        both["loss_low"] = (both["remote_low"] / both["local_high"] - 1.0) * 100.0
        both["loss_high"] = (both["remote_high"] / both["local_low"] - 1.0) * 100.0
    else:
        both["loss"] = (1.0 - both["remote"] / both["local"]) * 100.0
        both["loss_low"] = (1.0 - both["remote_high"] / both["local_low"]) * 100.0
        both["loss_high"] = (1.0 - both["remote_low"] / both["local_high"]) * 100.0
    chart = Chart(f"{model_title(t.model)}: % {word} Loss, remote vs local memory (BS={bs})",
                  t.subtitle("memory"), THREADS_LABEL, f"% {word} Loss (remote vs local)",
                  _lines(both, "threads", VARIANT, "loss", lambda o: f"opt={t.opt(o)}"),
                  value_suffix="%", include_zero=True)
    return t.draw(f"{word.lower()}-ratio-{bs}", chart, f"% {word} Loss BS={bs}")


# --- across frameworks -----------------------------------------------------------------

def cross_framework_plots(run: Run, model: str, points: pd.DataFrame,
                          several_dtypes: bool = False) -> list[Picture]:
    """Lines = framework (mode), e.g. "pytorch (eager)" (each framework's base variant),
    x = threads, per batch size; "pytorch (eager) bfloat16" with several dtypes."""
    if points["framework"].nunique() < 2:
        return []
    free = ("dtype",) if several_dtypes else ()
    parts = [select(ok_points(p), **base_variant(p, free)) for _, p in points.groupby("framework")]
    base = pd.concat(parts)
    if base.empty or base["framework"].nunique() < 2:
        return []
    base = base.assign(line=[mode_label(f, o) + dtype_suffix(d, several_dtypes) for f, o, d
                             in zip(base["framework"], base["optimization"], base["dtype"])])
    target = _Target(run.path, PLOTS_DIR, model, "all frameworks",
                     base_variant(points, free), several_dtypes)
    out = []
    for bs, part in base.groupby("batch_size", sort=True):
        for col, ylabel, word in (LATENCY, THROUGHPUT):
            chart = Chart(f"{model_title(model)}: Threads vs {word} (BS={bs}), frameworks compared",
                          target.subtitle(), THREADS_LABEL, ylabel,
                          _lines(part, "threads", "line", col, str))
            out.append(target.draw(f"frameworks-{word.lower()}-{bs}", chart,
                                   f"{word} BS={bs} frameworks"))
    return _keep(out)


def write_inference_plots(run: Run) -> InferencePlots:
    """Draw every inference picture the run supports into <run>/plots/."""
    infer = run.frame[run.frame["task"] == "infer"]
    several = len(swept_dtypes(infer, run.info.config)) > 1
    result = InferencePlots()
    for model in model_order(infer["model"]):
        of_model = infer[infer["model"] == model]
        for framework in dict.fromkeys(of_model["framework"]):
            points = of_model[of_model["framework"] == framework]
            if not ok_points(points).empty:
                result.models.append(model_plots(run, framework, model, points, several))
        result.cross[model] = cross_framework_plots(run, model, of_model, several)
    return result
