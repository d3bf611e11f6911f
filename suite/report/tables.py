"""The training tables of seed 003's form, and the Markdown/CSV they are written as.

Files written into the run folder, each as Markdown and as CSV (pandas `to_csv`):

- `train-speed-<framework>-<opt>.md/.csv`: images/sec with its 95% CI ("123 ± 4"), rounded
  to the decimal place the CI supports (`suite.stats.ci_text`); rows = models in zoo order,
  columns "batch size N". The CSV has the value and the CI's bounds in columns of their
  own ("batch size N", "batch size N CI low", "batch size N CI high").
- `train-memory-<framework>-<opt>.md/.csv`: peak memory in MiB (process device memory on a
  GPU, peak RSS on the CPU), ending in the reference top-5 accuracy column. On a GPU the
  Markdown adds the framework allocator's peaks (also `train-allocator-<...>.csv`).
- `train-model-memory-<framework>-<opt>.md/.csv` (CPU): the memory table's peaks less the
  framework's idle footprint after import (stated in the header): the model's own memory.

The cross-framework tables (`train-frameworks-bs<N>`) are `suite.report.cross_tables`'s,
the failures table `suite.report.failures`'. GPU tables carry notes saying how device time
and memory were taken (`suite.report.gpu`). A cell says "out of memory" for an `oom` point,
the status word ("error", "timeout", "skipped") for another failure and "not run" for a
point the run never stored. When one framework/optimization was measured under several
conditions (e.g. thread counts), the file names get a suffix naming the condition that
differs (`-t4`, `-ht`, `-remote`, `-s64`, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from frameworks import mode_label, mode_name
from suite import stats
from suite.report.flags import flag_lines, marked
from suite.report.frames import (Run, dtype_suffix, model_order, model_title,
                                 reference_accuracy, swept_dtypes)
from suite.report.gpu import ALLOCATOR_LINE, ALLOCATOR_TITLE, gpu_notes

CONDITION_FIELDS = ("device", "dtype", "input_size", "threads", "interop_threads",
                    "mapping", "ht", "memory", "nproc_per_node", "nnodes")
REFERENCE_HEADER_MD = "Reference accuracy<br>(imagenet1k Top-5)"
REFERENCE_HEADER_CSV = "Reference accuracy (imagenet1k Top-5)"
SPEED_TITLE = "Speed (images/sec)"
MEMORY_TITLE = "Memory usage (MiB)"
MODEL_MEMORY_TITLE = "Memory above the framework's idle footprint (MiB)"
NOT_RUN = "not run"
LEAD_HEADER = "lead (95% CI)"
NO_SIGNIFICANT_DIFFERENCE = "no significant difference"
CI_LINE = ("cells: images/sec (Σ images / Σ step time) ± the half-width of its 95% "
           "confidence interval, rounded to the digits the interval supports")


# --- Markdown rendering ----------------------------------------------------------------

def markdown_cell(value: Any) -> str:
    """A value as one Markdown table cell (pipes escaped, one line)."""
    text = "" if value is None else str(value)
    return text.replace("\n", " ").replace("|", "\\|")


def markdown_table(df: pd.DataFrame, align: Sequence[str] | None = None) -> str:
    """A pipe table laid out like seed 003: cells padded to the column width, the first
    column left-aligned and the others right-aligned unless `align` ("l"/"r") says otherwise."""
    header = [markdown_cell(c) for c in df.columns]
    rows = [[markdown_cell(v) for v in row] for row in df.itertuples(index=False)]
    align = list(align) if align else ["l"] + ["r"] * (len(header) - 1)
    widths = [max([len(h)] + [len(r[i]) for r in rows] + [2]) for i, h in enumerate(header)]
    rule = [(":" + "-" * (w - 1)) if a == "l" else ("-" * (w - 1) + ":")
            for a, w in zip(align, widths)]
    lines = [header, rule] + rows
    return "\n".join("|" + "|".join(c.ljust(w) for c, w in zip(line, widths)) + "|"
                     for line in lines) + "\n"


# --- training groups -------------------------------------------------------------------

@dataclass
class TrainGroup:
    """The training points of one framework/optimization under one set of conditions."""

    framework: str
    optimization: str
    conditions: dict[str, Any]
    points: pd.DataFrame
    suffix: str = ""
    varying: tuple[str, ...] = ()   # the conditions the suffix names
    several_dtypes: bool = False    # the run has several: the label always names the dtype

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.optimization}{self.suffix}"

    @property
    def label(self) -> str:
        """"pytorch (eager)", plus the conditions that tell groups of one mode apart, and
        the dtype where the run has several or it is not float32 ("... bfloat16")."""
        dtype = "" if "dtype" in self.varying else \
            dtype_suffix(self.conditions["dtype"], self.several_dtypes, heading=True)
        return mode_label(self.framework, self.optimization) + \
            self.suffix.replace("-", " ") + dtype


def training_groups(run: Run) -> list[TrainGroup]:
    """Training points grouped by framework, optimization and conditions, in run order."""
    train = run.frame[run.frame["task"] == "train"]
    groups: list[TrainGroup] = []
    keys = ["framework", "optimization", *CONDITION_FIELDS]
    several = len(swept_dtypes(train, run.info.config)) > 1
    for key, points in train.groupby(keys, sort=False):
        cond = dict(zip(CONDITION_FIELDS, key[2:]))
        groups.append(TrainGroup(key[0], key[1], cond, points, several_dtypes=several))
    _add_suffixes(groups)
    return groups


def _add_suffixes(groups: list[TrainGroup]) -> None:
    """Name the conditions that differ between groups of the same framework/optimization."""
    by_name: dict[tuple[str, str], list[TrainGroup]] = {}
    for g in groups:
        by_name.setdefault((g.framework, g.optimization), []).append(g)
    for same in by_name.values():
        if len(same) < 2:
            continue
        varying = tuple(f for f in CONDITION_FIELDS
                        if len({str(g.conditions[f]) for g in same}) > 1)
        for g in same:
            g.suffix = "".join(_suffix(f, g.conditions[f]) for f in varying)
            g.varying = varying


def _suffix(name: str, value: Any) -> str:
    short = {"threads": f"t{value}", "input_size": f"s{value}", "interop_threads": f"i{value}",
             "ht": "ht" if value else "noht", "nproc_per_node": f"{value}ranks",
             "nnodes": f"{value}nodes"}
    return "-" + str(short.get(name, value))


def batches_of(run: Run, points: pd.DataFrame) -> list[int]:
    configured = run.info.config.get("batches") or []
    return sorted({int(b) for b in configured} | {int(b) for b in points["batch_size"]})


def models_of(run: Run, points: pd.DataFrame) -> list[str]:
    configured = run.info.config.get("models") or []
    return model_order(list(configured) + list(points["model"]))


# --- cells and tables ------------------------------------------------------------------

def point_at(points: pd.DataFrame, model: str, batch: int) -> pd.Series | None:
    """The last stored point of a model and batch size, or None when none was stored."""
    hit = points[(points["model"] == model) & (points["batch_size"] == batch)]
    return None if hit.empty else hit.iloc[-1]


def cell_text(points: pd.DataFrame, model: str, batch: int,
          value: Callable[[pd.Series], str]) -> str:
    row = point_at(points, model, batch)
    if row is None:
        return NOT_RUN
    if row["status"] == "ok":
        return marked(value(row), row)     # ≠: not the model file's function
    return "out of memory" if row["status"] == "oom" else str(row["status"])


def speed_text(row: pd.Series) -> str:
    """Images/sec and its 95% CI, for people: "123 ± 4"."""
    return stats.ci_text(row["items_per_second"], row["items_per_second_ci_low"],
                         row["items_per_second_ci_high"])


def _speed_bounds(row: pd.Series) -> tuple[str, str, str]:
    """Images/sec and its CI's bounds for a CSV, rounded alike ("" where no interval)."""
    value, low, high = stats.rounded_to_ci(row["items_per_second"],
                                           row["items_per_second_ci_low"],
                                           row["items_per_second_ci_high"])
    return value, low or "", high or ""


def _memory(row: pd.Series) -> str:
    """The peak, and the range over the point's processes where they differ."""
    if pd.isna(row["memory_mib"]):
        return "n/a"
    high, low = int(row["memory_mib"]), row.get("memory_low_mib")
    return f"{high} ({int(low)}-{high})" if pd.notna(low) and int(low) < high else f"{high}"


RANGE_LINE = ("a cell \"peak (low-peak)\": the point ran in several fresh processes whose "
              "peaks differ; the peak is the largest of them")


def memory_lines(lines: list[str], group: TrainGroup) -> list[str]:
    """The memory table's bullets: the conditions, and what a range in a cell means."""
    low, high = group.points["memory_low_mib"], group.points["memory_mib"]
    return lines + ([RANGE_LINE] if (low.notna() & (low < high)).any() else [])


def batch_table(points: pd.DataFrame, models: list[str], batches: list[int],
                value: Callable[[pd.Series], str]) -> pd.DataFrame:
    """Rows = models (display names), columns "batch size N", cells from `value` or a status."""
    data = {"model": [model_title(m) for m in models]}
    for b in batches:
        data[f"batch size {b}"] = [cell_text(points, m, b, value) for m in models]
    return pd.DataFrame(data)


def speed_table(run: Run, group: TrainGroup) -> pd.DataFrame:
    return batch_table(group.points, models_of(run, group.points),
                       batches_of(run, group.points), speed_text)


def with_ci_columns(table: pd.DataFrame, cells: dict[str, list[tuple[str, str, str]]]
                    ) -> pd.DataFrame:
    """`table` with each column named in `cells` replaced by three: the value, "<column> CI
    low" and "<column> CI high" (for CSVs: numbers in cells of their own)."""
    data: dict[str, list[str]] = {}
    for column in table.columns:
        if column not in cells:
            data[column] = list(table[column])
            continue
        data[column] = [c[0] for c in cells[column]]
        data[f"{column} CI low"] = [c[1] for c in cells[column]]
        data[f"{column} CI high"] = [c[2] for c in cells[column]]
    return pd.DataFrame(data)


def bounds_cell(points: pd.DataFrame, model: str, batch: int) -> tuple[str, str, str]:
    row = point_at(points, model, batch)
    if row is None or row["status"] != "ok":
        return cell_text(points, model, batch, speed_text), "", ""
    return _speed_bounds(row)


def speed_csv(run: Run, group: TrainGroup, table: pd.DataFrame) -> pd.DataFrame:
    """The speed table for a CSV: each batch size's value, CI low and CI high columns."""
    models, batches = models_of(run, group.points), batches_of(run, group.points)
    return with_ci_columns(table, {f"batch size {b}": [bounds_cell(group.points, m, b)
                                                       for m in models] for b in batches})


def memory_table(run: Run, group: TrainGroup) -> pd.DataFrame:
    models = models_of(run, group.points)
    table = batch_table(group.points, models, batches_of(run, group.points), _memory)
    table[REFERENCE_HEADER_MD] = [reference_accuracy(m) for m in models]
    return table


def _allocator(row: pd.Series) -> str:
    value = row["allocator_peaks"]
    return "n/a" if pd.isna(value) else str(value)


def allocator_table(run: Run, group: TrainGroup) -> pd.DataFrame | None:
    """The framework allocator's peaks per model and batch size (GPU); None where no point
    has them (CPU runs, frameworks without allocator statistics)."""
    if group.points["allocator_peaks"].isna().all():
        return None
    return batch_table(group.points, models_of(run, group.points), batches_of(run, group.points),
                       _allocator)


def _model_memory(row: pd.Series) -> str:
    value = row["model_memory_mib"]
    return "n/a" if pd.isna(value) else f"{int(value)}"


def model_memory_table(run: Run, group: TrainGroup) -> pd.DataFrame | None:
    """The memory table's peaks less the framework's idle footprint after import: the
    model's own memory. None where no point has the figure (GPU runs, older runs)."""
    if group.points["model_memory_mib"].isna().all():
        return None
    return batch_table(group.points, models_of(run, group.points), batches_of(run, group.points),
                       _model_memory)


def model_memory_lines(lines: list[str], group: TrainGroup) -> list[str]:
    """The memory table's bullets plus the idle footprint that was subtracted."""
    idle = (group.points["memory_mib"] - group.points["model_memory_mib"]).dropna()
    return lines + [f"framework idle footprint after import: {int(idle.median())} MiB "
                    f"(memory usage = this + the figures below)"]


# --- headers ---------------------------------------------------------------------------

def hardware_line(run: Run, conditions: dict[str, Any]) -> str:
    """"GPU: <name> (<N>GiB Memory)" on cuda, "CPU: <model> (<N> threads)" on the CPU."""
    env = run.info.environment
    if conditions.get("device") == "cuda":
        gpus = env.get("gpus") or []
        if not gpus:
            return "GPU: unknown"
        gpu = gpus[0]
        memory = gpu.get("memory_mib")
        size = f" ({round(float(memory) / 1024)}GiB Memory)" if memory else ""
        return f"GPU: {gpu.get('name', 'unknown')}{size}"
    threads = int(conditions.get("threads") or 0)
    count = f"{threads} threads" if threads else "framework default threads"
    return f"CPU: {env.get('cpu_model') or 'unknown'} ({count})"


def condition_lines(run: Run, group: TrainGroup) -> list[str]:
    """The bullets heading a training table (seed 003 + one line of conditions), unprefixed."""
    config = run.info.config
    lines = []
    if config.get("samples"):
        lines.append(f"dataset: {config['samples']} samples")
    lines.append("batch size: " + ", ".join(str(b) for b in batches_of(run, group.points)))
    lines.append(f"Optimizer: {str(config.get('optimizer') or 'sgd').upper()}")
    lines.append(hardware_line(run, group.conditions))
    lines.append(framework_line(group))
    return lines + gpu_notes(group.points) + flag_lines(group.points)


def speed_lines(lines: list[str]) -> list[str]:
    """The speed table's bullets: the conditions, then what a cell says."""
    return lines + [CI_LINE]


def framework_line(group: TrainGroup) -> str:
    """The conditions seed 003 leaves implicit: framework, optimization, device, dtype, size."""
    c = group.conditions
    mode = mode_name(group.framework, group.optimization)
    parts = [f"framework: {group.framework}", f"optimization: {group.optimization} ({mode})",
             f"device: {c['device']}", f"precision: {c['dtype']}",
             f"image size: {c['input_size']}"]
    if c.get("ht"):
        parts.append("hyper-threading on")
    if c.get("memory") == "remote":
        parts.append("remote NUMA memory")
    world = int(c.get("nproc_per_node") or 1) * int(c.get("nnodes") or 1)
    if world > 1:
        parts.append(f"data-parallel: {world} ranks ({c.get('nnodes') or 1} node(s) x "
                     f"{c.get('nproc_per_node')}), batch size per rank, images/sec of all ranks")
    return ", ".join(parts)


def section_markdown(title: str, lines: list[str], table: pd.DataFrame, level: int = 2) -> str:
    """"## <title>", the condition bullets and the table."""
    bullets = "\n".join(f"- {line}" for line in lines)
    return "#" * level + f" {title}\n\n{bullets}\n\n" + markdown_table(table)


# --- writing ---------------------------------------------------------------------------

@dataclass
class TrainingTables:
    """The rendered tables of one training group, for the page."""

    group: TrainGroup
    speed: pd.DataFrame
    memory: pd.DataFrame
    lines: list[str]
    speed_csv: pd.DataFrame | None = None      # the speed table with CI bound columns
    model_memory: pd.DataFrame | None = None   # memory above the idle footprint (CPU)
    allocator: pd.DataFrame | None = None      # framework allocator peaks (GPU)
    files: list[str] = field(default_factory=list)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    table.rename(columns={REFERENCE_HEADER_MD: REFERENCE_HEADER_CSV}).to_csv(path, index=False)


def write_training_tables(run: Run, out_dir: Path) -> list[TrainingTables]:
    """Write the speed and memory tables of every training group; return them for the page."""
    written = []
    for group in training_groups(run):
        t = TrainingTables(group, speed_table(run, group), memory_table(run, group),
                           condition_lines(run, group))
        t.speed_csv = speed_csv(run, group, t.speed)
        for kind, title, table, csv, lines in (
                ("speed", SPEED_TITLE, t.speed, t.speed_csv, speed_lines(t.lines)),
                ("memory", MEMORY_TITLE, t.memory, t.memory, memory_lines(t.lines, group))):
            stem = f"train-{kind}-{group.name}"
            (out_dir / f"{stem}.md").write_text(
                "# Benchmark\n\n" + section_markdown(title, lines, table))
            write_csv(csv, out_dir / f"{stem}.csv")
            t.files += [f"{stem}.md", f"{stem}.csv"]
        _write_allocator(t, run, out_dir)
        t.model_memory = model_memory_table(run, group)
        if t.model_memory is not None:
            stem = f"train-model-memory-{group.name}"
            (out_dir / f"{stem}.md").write_text("# Benchmark\n\n" + section_markdown(
                MODEL_MEMORY_TITLE, model_memory_lines(t.lines, group), t.model_memory))
            write_csv(t.model_memory, out_dir / f"{stem}.csv")
            t.files += [f"{stem}.md", f"{stem}.csv"]
        written.append(t)
    return written


def _write_allocator(t: TrainingTables, run: Run, out_dir: Path) -> None:
    """Append the allocator peaks to the memory table's Markdown, and write their CSV."""
    t.allocator = allocator_table(run, t.group)
    if t.allocator is None:
        return
    with open(out_dir / f"train-memory-{t.group.name}.md", "a") as md:
        md.write("\n" + section_markdown(ALLOCATOR_TITLE, [ALLOCATOR_LINE], t.allocator, 3))
    write_csv(t.allocator, out_dir / f"train-allocator-{t.group.name}.csv")
    t.files.append(f"train-allocator-{t.group.name}.csv")
