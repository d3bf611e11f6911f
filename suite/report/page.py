"""The report page's blocks: `index.md` laid out like the seed pages, a self-contained
`index.html`.

Both are rendered from the same blocks (headings, bullet lists, tables, picture groups,
boxes), grouped into sections by `suite.report.layout`, so they never disagree. The HTML
embeds every picture as a base64 data URI and needs no network; its only links are to
the page's own sections and to the CSV and Markdown files written beside it. Each
framework/model also gets a seed-style page of its own, `plots/<framework>/<model>.md`,
whose image paths are relative to that folder (`./<model>-latency-1.png`).
"""
from __future__ import annotations

import base64
import html
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pandas as pd

from suite.report.frames import Run, item_unit, model_title, status_counts
from suite.report.gpu import ALLOCATOR_LINE, ALLOCATOR_TITLE, gpu_notes
from suite.peak import PEAK_KEY, peak_text
from suite.report.plots import InferencePlots, ModelPlots, Picture
from suite.report.summary import SummarySection
from suite.equivalence import report_lines
from suite.report.cross_tables import CrossTable
from suite.report.tables import (MEMORY_TITLE, SPEED_TITLE, TrainingTables, markdown_table,
                                 speed_lines)

MESSAGE_CHARS = 300
KEY_VERSIONS = ("python", "dlbench", "torch", "tensorflow", "mxnet", "onnxruntime",
                "onnxruntime-gpu", "numpy")


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Links:
    items: list[tuple[str, str]]     # (label, relative href)


@dataclass
class Table:
    frame: pd.DataFrame
    align: list[str] | None = None     # "l"/"r" per column; default: first left, others right


@dataclass
class Pictures:
    pictures: list[Picture]


@dataclass
class Box:
    """Facts shown framed (the environment fingerprint): a title and its lines."""

    title: str
    items: list[str]


Block = Union[Heading, Bullets, Links, Table, Pictures, Box]


# --- Markdown --------------------------------------------------------------------------

def _picture_md(p: Picture, prefix: str) -> str:
    src = prefix + p.path.split("/")[-1] if prefix else "./" + p.path
    return f'<img src="{src}" alt="{html.escape(p.alt)}" width="100%"/>'


def render_markdown(blocks: list[Block], picture_prefix: str = "") -> str:
    """Markdown of the blocks; pictures as the seeds' `<p float="left"><img .../></p>`."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text + "\n")
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items) + "\n")
        elif isinstance(b, Links):
            out.append("\n".join(f"- [{label}]({href})" for label, href in b.items) + "\n")
        elif isinstance(b, Table):
            out.append(markdown_table(b.frame, b.align))
        elif isinstance(b, Pictures):
            imgs = "\n".join(_picture_md(p, picture_prefix) for p in b.pictures)
            out.append(f'<p float="left">\n{imgs}\n</p>\n')
        elif isinstance(b, Box):
            out.append(f"> **{b.title}**\n>\n" + "\n".join(f"> - {i}" for i in b.items) + "\n")
    return "\n".join(out)


# --- HTML ------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%;display:block;margin:.5em 0}code{background:#f3f3f3;padding:0 3px}
.box{border:1px solid #bbb;border-radius:6px;background:#fafafa;padding:.2em 1em;margin:1em 0}
.box h3{margin:.5em 0 0}nav ul{columns:2}details{border-top:1px solid #ddd;margin:.5em 0}
details>summary{cursor:pointer;font-size:1.6em;font-weight:bold;padding:.3em 0}"""


def _inline_html(text: str) -> str:
    """Escape, then turn the two inline forms the page uses (**bold**, `code`) into tags."""
    text = html.escape(str(text))
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _table_html(frame: pd.DataFrame) -> str:
    cells = frame.map(lambda v: _inline_html("" if v is None else v))
    cells.columns = [_inline_html(c).replace("&lt;br&gt;", "<br>") for c in frame.columns]
    return cells.to_html(index=False, escape=False, border=0)


def _picture_html(p: Picture, run_dir: Path) -> str:
    data = base64.b64encode((run_dir / p.path).read_bytes()).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(p.alt)}" '
            f'title="{html.escape(p.path)}">')


def html_document(title: str, body: str) -> str:
    """The page around a body: the title and the style sheet, nothing from the network."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + body + "\n</body></html>\n")


def html_body(blocks: list[Block], run_dir: Path) -> str:
    """The blocks as HTML elements (pictures embedded as data URIs)."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items)
                        + "</ul>")
        elif isinstance(b, Links):
            body.append("<ul>" + "".join(
                f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'
                for label, href in b.items) + "</ul>")
        elif isinstance(b, Table):
            body.append(_table_html(b.frame))
        elif isinstance(b, Pictures):
            body.append("\n".join(_picture_html(p, run_dir) for p in b.pictures))
        elif isinstance(b, Box):
            body.append(f'<div class="box"><h3>{_inline_html(b.title)}</h3><ul>'
                        + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items)
                        + "</ul></div>")
    return "\n".join(body)


# --- the sections ----------------------------------------------------------------------

def summary_blocks(run: Run) -> list[Block]:
    """What the run was: task, command, point counts, inputs, what a ± means."""
    info = run.info
    counts = ", ".join(f"{n} {s}" for s, n in status_counts(run.frame).items()) or "none"
    items = [f"task: {info.task}", f"started: {info.started_at}",
             f"command: `{shlex.join(str(c) for c in info.command)}`", f"points: {counts}",
             "inputs: synthetic; each point creates one batch (and labels) on its device "
             "before timing, and every timed step reuses that same batch: no data loading "
             "or host-to-device copy is timed", _ci_line(info.config), *gpu_notes(run.frame),
             *report_lines(info.equivalence)]
    return [Heading(1, "About this run"), Bullets(items),
            Links([("every point with its figures (CSV)", "points.csv")])]


def headline_blocks(sections: list[SummarySection]) -> list[Block]:
    """The summary of `suite.report.summary`: a heading and bullets per section."""
    blocks: list[Block] = [Heading(1, "Summary")]
    for section in sections:
        blocks += [Heading(2, section.title), Bullets(section.lines)]
    return blocks


def fingerprint_box(run: Run) -> Box:
    """The machine and software in a few lines: CPU, cores, memory, peak, versions, commit."""
    env = run.info.environment
    memory = env.get("memory_mib")
    versions = env.get("versions") or {}
    shown = ", ".join(f"{k} {versions[k]}" for k in KEY_VERSIONS if k in versions)
    peak = env.get(PEAK_KEY)
    items = [f"CPU: {env.get('cpu_model', 'unknown')}, {env.get('physical_cores', '?')} "
             f"physical cores, {env.get('logical_cores', '?')} logical, "
             f"{len(env.get('numa_nodes') or []) or '?'} NUMA node(s)",
             "memory: " + (f"{float(memory) / 1024:.1f} GiB" if memory else "unknown"),
             "GPU: " + ("; ".join(str(g.get("name")) for g in env.get("gpus") or []) or "none"),
             f"peak: {peak_text(peak)}" + (f" ({peak['method']})" if peak else ""),
             f"versions: {shown or 'unknown'}",
             f"git commit: `{env.get('git_commit') or 'unknown'}`"]
    return Box("Environment fingerprint", items)


def files_blocks(run_dir: Path) -> list[Block]:
    """Links to every CSV of the run folder, and the raw records."""
    csvs = sorted(p.name for p in run_dir.glob("*.csv"))
    links = [(name, name) for name in csvs]
    links += [(f"{name} (raw)", name) for name in ("points.jsonl", "run.json")
              if (run_dir / name).is_file()]
    return [Heading(1, "Files"), Links(links)]


def _ci_line(config: dict) -> str:
    """What the ± of every figure means in this run."""
    n = int(config.get("processes") or 1)
    spread = (f"each point ran in {n} fresh worker processes and its CIs cover the spread "
              "between them" if n > 1 else "each point ran in one worker process, so its "
              "CIs cover step-to-step noise only, not the spread between processes "
              "(use --processes 3)")
    return ("figures: value ± half-width of the 95% confidence interval, rounded to the "
            f"digits it supports, derived from the raw samples; {spread}")


def training_sections(tables: list[TrainingTables], cross: list[CrossTable]
                      ) -> list[tuple[str, list[Block]]]:
    """(title, blocks) per training group, then the frameworks compared."""
    sections: list[tuple[str, list[Block]]] = []
    for t in tables:
        blocks: list[Block] = [Heading(1, f"Training: {t.group.label}"),
                               Heading(2, SPEED_TITLE), Bullets(speed_lines(t.lines)),
                               Table(t.speed), Heading(2, MEMORY_TITLE), Bullets(t.lines),
                               Table(t.memory)]
        if t.allocator is not None:
            blocks += [Heading(3, ALLOCATOR_TITLE), Bullets([ALLOCATOR_LINE]),
                       Table(t.allocator)]
        blocks.append(Links([(f, f) for f in t.files]))
        sections.append((f"Training: {t.group.label}", blocks))
    if cross:
        blocks = [Heading(1, "Training: frameworks compared")]
        for c in cross:
            blocks += [Heading(2, f"{SPEED_TITLE}, batch size {c.batch_size}"),
                       Bullets(c.lines), Table(c.table), Links([(f, f) for f in c.files])]
        sections.append(("Training: frameworks compared", blocks))
    return sections


def _group(heading: str, pictures: list[Picture]) -> list[Block]:
    return [Heading(2, heading), Pictures(pictures)] if pictures else []


def _per_opt(plots: ModelPlots, key: str, word: str) -> list[Block]:
    """Seed 004: with HT swept, one picture group per HT setting instead of the base one."""
    ht = plots.sections[f"{key}_ht"]
    if not ht:
        return _group(f"{word} Per Optimization", plots.sections[f"{key}_per_opt"])
    groups = [[p for p in ht if p.path.endswith(f"-{flag}.png")] for flag in (False, True)]
    return [Heading(2, f"{word} Per Optimization")] + [Pictures(g) for g in groups if g]


def model_blocks(plots: ModelPlots) -> list[Block]:
    """One framework/model in the seeds' section structure (empty sections left out)."""
    s = plots.sections
    mapping = str(plots.variant.get("mapping", "sequential")).title()
    parts = [
        (f"Latency ({mapping})", _group("Latency Per Batch", s["latency_per_batch"])
         + _per_opt(plots, "latency", "Latency")),
        (f"Throughput ({mapping})", _group("Throughput Per Batch", s["throughput_per_batch"])
         + _per_opt(plots, "throughput", "Throughput") + _group("Speedup", s["speedup"])
         + _group("Throughput Per Batch", s["per_bs"])),
        ("Latency (Remote vs Local)", _group("Latency Per Batch", s["rl_latency"])
         + _group("% Latency Loss Per Batch", s["rl_latency_loss"])),
        ("Throughput (Remote vs Local)", _group("Throughput Per Batch", s["rl_throughput"])
         + _group("% Throughput Loss Per Batch", s["rl_throughput_loss"])),
    ]
    blocks: list[Block] = []
    for title, inner in parts:
        if inner:
            blocks += [Heading(1, title)] + inner
    return blocks


def inference_sections(plots: InferencePlots, variant_text: Any
                       ) -> list[tuple[str, list[Block]]]:
    """(title, blocks) per framework and model, then per model across frameworks."""
    sections: list[tuple[str, list[Block]]] = []
    for mp in plots.models:
        title = f"{model_title(mp.model)} ({mp.framework})"
        blocks: list[Block] = [
            Heading(1, title),
            Bullets([f"shown: {variant_text(mp.framework, mp.variant)}",
                     "latency = median time per batch (ms); throughput = "
                     f"{item_unit(mp.model)}/s (items processed / total timed time)"])]
        inner = model_blocks(mp)
        blocks += inner or [Bullets(["no picture: the run swept no dimension to plot "
                                     "(one thread count and one batch size)"])]
        sections.append((title, blocks))
    for model, pictures in plots.cross.items():
        if pictures:
            lat = [p for p in pictures if "-frameworks-latency-" in p.path]
            thr = [p for p in pictures if "-frameworks-throughput-" in p.path]
            title = f"{model_title(model)}: frameworks compared"
            sections.append((title, [Heading(1, title)] + _group("Latency Per Batch", lat)
                             + _group("Throughput Per Batch", thr)))
    return sections


def failure_blocks(failures: pd.DataFrame) -> list[Block]:
    if failures.empty:
        return []
    shown = failures.assign(message=[m if len(m) <= MESSAGE_CHARS else m[:MESSAGE_CHARS] + "…"
                                     for m in failures["message"]])
    align = ["r" if c in ("batch size", "threads") else "l" for c in shown.columns]
    return [Heading(1, "Failed and skipped points"), Table(shown, align),
            Links([("failures.csv", "failures.csv")])]


def imprecise_blocks(imprecise: pd.DataFrame) -> list[Block]:
    """Points that measured but whose 95% CIs (median or throughput) stayed wider than the
    target."""
    if imprecise.empty:
        return []
    align = ["r" if c in ("batch size", "threads", "iterations", "CI half-width") else "l"
             for c in imprecise.columns]
    return [Heading(1, "Precision not reached"),
            Bullets(["these points are plotted and tabulated, but their median or their "
                     "throughput is less certain than the precision target (the larger "
                     "relative 95% CI half-width of the two shown)"]),
            Table(imprecise, align)]


def _cpus(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> "0-3,8"."""
    ranges, cpus = [], sorted(int(c) for c in cpus)
    for c in cpus:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges)


def _plain(value: Any) -> str:
    """Lists as "a, b, c", mappings as "k: a, b; k2: c"; everything else as str()."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "unset" if value is None else str(value)


def _gpu_text(gpu: dict) -> str:
    """One GPU of the fingerprint; a missing field (MIG, vGPU, an older run.json) says so."""
    memory = gpu.get("memory_mib")
    size = "memory unknown" if memory is None else f"{float(memory):.0f} MiB"
    return f"{gpu.get('name') or 'unknown GPU'} ({size}, driver {gpu.get('driver') or 'unknown'})"


def environment_blocks(run: Run) -> list[Block]:
    env, info = run.info.environment, run.info
    gpus = env.get("gpus") or []
    items = [f"host: {env.get('hostname', 'unknown')}",
             f"CPU: {env.get('cpu_model', 'unknown')}",
             "memory: " + (f"{env['memory_mib']:.0f} MiB" if env.get("memory_mib") else "unknown"),
             f"cores: {env.get('physical_cores', '?')} physical, "
             f"{env.get('logical_cores', '?')} logical",
             "NUMA nodes: " + ("; ".join(f"node {n.get('node')}: CPUs {_cpus(n.get('cpus', []))}"
                                         for n in env.get("numa_nodes") or []) or "unknown"),
             "GPU: " + ("; ".join(_gpu_text(g) for g in gpus) or "none"),
             f"CUDA: {env.get('cuda') or 'not available'}",
             f"git commit: {env.get('git_commit') or 'unknown'}",
             f"command line: `{shlex.join(str(c) for c in info.command)}`"]
    if env.get("frequency"):
        items.append("frequency: " + ", ".join(f"{k} {v}" for k, v in env["frequency"].items()))
    versions = [f"{k}: {v}" for k, v in sorted((env.get("versions") or {}).items())]
    config = [f"{k}: {_plain(v)}" for k, v in info.config.items()]
    return [Heading(1, "Environment"), Bullets(items), Heading(2, "Versions"),
            Bullets(versions or ["unknown"]), Heading(2, "Configuration"),
            Bullets(config or ["unknown"])]


def seed_page(plots: ModelPlots) -> str:
    """A framework/model's page exactly in the seeds' form, for `plots/<framework>/`."""
    front = f'---\ntitle:  "{model_title(plots.model)} ({plots.framework})"\n---\n\n'
    return front + render_markdown(model_blocks(plots), picture_prefix="./")
