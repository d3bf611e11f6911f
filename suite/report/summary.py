"""The report's headline: what to use and how sure that is, computed from a run's points.

Pure functions over the frame of `suite.report.frames` (no drawing, no files). Each
section is a title and a few lines, rendered at the top of `index.md` / `index.html` and
printed at the end of a sweep:

- Inference, per model: the highest throughput (framework, mode, threads, batch) with its
  95% CI and % of the machine's peak, its speedup over the framework's default (its
  deployed mode on the most threads measured, same batch), and the lowest latency at the
  smallest batch.
- Training, per model and batch size: the fastest framework (mode).
- Frameworks compared: per block (same model, batch, threads, placement), each variant's
  paired throughput ratio to the block reference with its 95% CI, or "no difference
  resolved" and what the cell resolves; what the run resolves (median minimum detectable
  effect) and the control arms' result (`suite.report.ratio_tables`). Configurations are
  not compared across batch sizes or thread counts: that ratio says nothing about
  frameworks.
- NUMA and hyper-threading: the % change of throughput, remote vs local memory and HT on
  vs off, over matched points.
- Distance to peak: the point closest to its peak (`peak_basis`) (a warning where a
  point exceeds it: the peak was measured while the machine was busy).
- Precision: how many points reached the target.

A claim is made only where the 95% CIs say so: when the winner's interval overlaps
another's, the line says "no significant difference" and names the rival. Other sections
(the serving verdict of `tune`) plug in through `extra`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from frameworks import deployed_optimization, mode_label
from suite import stats
from suite.report.flags import marked
from suite.report.frames import (VARIANT_FIELDS, base_variant, item_unit, model_order,
                                 model_title, ok_points, select)
from suite.report.ratio_tables import RunRatios, summary_lines

NO_SIGNIFICANT_DIFFERENCE = "no significant difference"
MAX_RIVALS = 2     # rivals named in a "no significant difference" line
FRAMEWORKS_TITLE = "Frameworks compared"


@dataclass
class SummarySection:
    """One block of the headline: a title and its lines (Markdown inline: **bold**, `code`)."""

    title: str
    lines: list[str]


# --- small pieces ----------------------------------------------------------------------

def _figure(row: pd.Series) -> str:
    return marked(stats.ci_text(row["items_per_second"], row["items_per_second_ci_low"],
                                row["items_per_second_ci_high"]), row)


def _latency(row: pd.Series) -> str:
    return marked(stats.ci_text(row["median_ms"], row["ci_low_ms"], row["ci_high_ms"]) + " ms",
                  row)


def _threads(n: Any) -> str:
    return f"{int(n)} thread" + ("" if int(n) == 1 else "s")


def config_text(row: pd.Series, batch: bool = True) -> str:
    """"onnx (ORT optimized), 2 threads, batch 4"."""
    text = f"{mode_label(row['framework'], row['optimization'])}, {_threads(row['threads'])}"
    return text + (f", batch {int(row['batch_size'])}" if batch else "")


def faster(a: pd.Series, b: pd.Series) -> bool:
    """Whether a's throughput is significantly above b's: its 95% CI lies wholly above."""
    return bool(a["items_per_second_ci_low"] > b["items_per_second_ci_high"])


def ratio_text(a: pd.Series, b: pd.Series) -> str:
    """"2.31x" when a is significantly faster than b, else "no significant difference"."""
    if not faster(a, b):
        return NO_SIGNIFICANT_DIFFERENCE
    return f"{a['items_per_second'] / b['items_per_second']:.2f}x"


def _peak_text(row: pd.Series) -> str:
    percent, peak = row.get("percent_of_peak"), row.get("peak_gflops_per_second")
    if percent is None or pd.isna(percent) or pd.isna(peak):
        return ""
    return f" ({stats.significant(percent, 2)}% of the {peak:.0f} GFLOP/s peak)"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _rivals(best: pd.Series, others: pd.DataFrame, describe: Any) -> str:
    """", no significant difference from X (figure)[, Y ...][ and N more]" for the others
    whose CI reaches the best's; "" when the best leads significantly."""
    tied = [r for _, r in others.iterrows() if not faster(best, r)]
    if not tied:
        return ""
    named = _and([f"{describe(r)} at {_figure(r)}" for r in tied[:MAX_RIVALS]])
    more = f" and {len(tied) - MAX_RIVALS} more" if len(tied) > MAX_RIVALS else ""
    return f" — {NO_SIGNIFICANT_DIFFERENCE} from {named}{more}"


# --- inference -------------------------------------------------------------------------

def default_row(points: pd.DataFrame, like: pd.Series) -> pd.Series | None:
    """The framework's default configuration at `like`'s batch size: its deployed mode on
    the most threads measured (a bare command's setting); None where not measured."""
    try:
        deployed = deployed_optimization(like["framework"], "infer")
    except (KeyError, ImportError):
        return None
    same = points[(points["framework"] == like["framework"])
                  & (points["optimization"] == deployed)
                  & (points["batch_size"] == like["batch_size"])]
    if same.empty:
        return None
    return same.loc[same["threads"].idxmax()]


def inference_lines(frame: pd.DataFrame) -> list[str]:
    """Per model: highest throughput and its speedups; lowest latency at the smallest batch."""
    infer = ok_points(frame[frame["task"] == "infer"])
    lines = []
    for model in model_order(infer["model"]):
        points = infer[infer["model"] == model]
        points = select(points, **base_variant(points))
        points = points[points["items_per_second"].notna()]
        if points.empty:
            continue
        lines.append(_throughput_line(model, points))
        lines.append(_latency_line(model, points))
    return lines


def _throughput_line(model: str, points: pd.DataFrame) -> str:
    ordered = points.sort_values("items_per_second", ascending=False)
    best = ordered.iloc[0]
    text = (f"**{model_title(model)}**, highest throughput: **{config_text(best)}**, "
            f"{_figure(best)} {item_unit(model)}/s{_peak_text(best)}")
    text += _rivals(best, ordered.iloc[1:], config_text)
    default = default_row(points, best)
    if default is not None and default.name != best.name:
        text += f"; vs the default ({config_text(default)}): {ratio_text(best, default)}"
    elif default is not None:
        text += "; this is the framework's default configuration"
    return text


def _latency_line(model: str, points: pd.DataFrame) -> str:
    smallest = points[points["batch_size"] == points["batch_size"].min()]
    ordered = smallest.sort_values("median_ms")
    best = ordered.iloc[0]
    text = (f"{model_title(model)}, lowest latency at batch {int(best['batch_size'])}: "
            f"**{config_text(best, batch=False)}**, {_latency(best)} median")
    tied = [r for _, r in ordered.iloc[1:].iterrows() if r["ci_low_ms"] <= best["ci_high_ms"]]
    if tied:
        named = _and([f"{config_text(r, batch=False)} at {_latency(r)}"
                      for r in tied[:MAX_RIVALS]])
        more = f" and {len(tied) - MAX_RIVALS} more" if len(tied) > MAX_RIVALS else ""
        text += f" — {NO_SIGNIFICANT_DIFFERENCE} from {named}{more}"
    return text


# --- training --------------------------------------------------------------------------

def training_lines(frame: pd.DataFrame) -> list[str]:
    """Per model and batch size: the fastest framework (mode), or no significant difference."""
    train = ok_points(frame[frame["task"] == "train"])
    train = train[train["items_per_second"].notna()]
    lines = []
    several_threads = train["threads"].nunique() > 1

    def describe(r: pd.Series) -> str:
        label = mode_label(r["framework"], r["optimization"])
        return label + (f", {_threads(r['threads'])}" if several_threads else "")

    for model in model_order(train["model"]):
        of_model = train[train["model"] == model]
        # one line per configuration (batch and every other field but the framework's):
        # points of other dtypes, world sizes or placements are never ranked together
        varying = [f for f in VARIANT_FIELDS if of_model[f].nunique() > 1]
        for key, points in of_model.groupby(["batch_size", *varying], sort=True):
            ordered = points.sort_values("items_per_second", ascending=False)
            best = ordered.iloc[0]
            text = (f"**{model_title(model)}**, batch {int(best['batch_size'])}"
                    f"{configuration_suffix(best, varying)}: fastest "
                    f"**{describe(best)}**, {_figure(best)} images/s{_peak_text(best)}")
            if len(ordered) == 1:
                lines.append(text + " (the only framework measured)")
                continue
            lines.append(text + _rivals(best, ordered.iloc[1:], describe))
    return lines


def configuration_suffix(row: pd.Series, fields: Sequence[str]) -> str:
    """", bfloat16, 2 ranks, remote memory": the fields that tell a point's configuration
    from the others of its model (empty when only the batch varies)."""
    words = {"dtype": lambda v: str(v), "input_size": lambda v: f"size {int(v)}",
             "device": lambda v: str(v), "interop_threads": lambda v: f"{int(v)} inter-op",
             "mapping": lambda v: f"{v} mapping", "ht": lambda v: "HT on" if v else "HT off",
             "memory": lambda v: f"{v} memory", "nproc_per_node": lambda v: f"{int(v)} rank(s)",
             "nnodes": lambda v: f"{int(v)} node(s)"}
    return "".join(f", {words[f](row[f])}" for f in fields)


# --- NUMA and hyper-threading ----------------------------------------------------------

PAIR_KEYS = ("task", "framework", "optimization", "model", "batch_size", "input_size",
             "device", "dtype", "threads", "interop_threads", "mapping", "ht", "memory")


def paired_change(frame: pd.DataFrame, field: str, base: Any, other: Any) -> str | None:
    """"-8.1% throughput (geometric mean of 12 matched points, -15% to -2%; 9 of 12
    significant)" for `field` = other vs base over points equal in every other field;
    None where no pair was measured."""
    ok = ok_points(frame)
    keys = [k for k in PAIR_KEYS if k != field]
    a = ok[ok[field] == base].set_index(keys)
    b = ok[ok[field] == other].set_index(keys)
    common = a.index.intersection(b.index)
    if common.empty:
        return None
    a, b = a.loc[common], b.loc[common]
    ratios = (b["items_per_second"] / a["items_per_second"]).to_numpy()
    significant = int(((b["items_per_second_ci_high"] < a["items_per_second_ci_low"])
                       | (b["items_per_second_ci_low"] > a["items_per_second_ci_high"])).sum())
    mean = (stats.geometric_mean(ratios) - 1.0) * 100.0
    low, high = ((v - 1.0) * 100.0 for v in (ratios.min(), ratios.max()))
    verdict = f"{significant} of {len(ratios)} significant" if significant else \
        f"{NO_SIGNIFICANT_DIFFERENCE} at any of them"
    return (f"{mean:+.1f}% throughput (geometric mean of {len(ratios)} matched points, "
            f"{low:+.1f}% to {high:+.1f}%; {verdict})")


def placement_lines(frame: pd.DataFrame, environment: dict[str, Any]) -> list[str]:
    """Remote vs local memory and HT on vs off, or why the run did not measure them."""
    nodes = len(environment.get("numa_nodes") or []) or 1
    numa = paired_change(frame, "memory", "local", "remote")
    ht = paired_change(frame, "ht", False, True)
    siblings = environment.get("siblings") or {}
    has_ht = any(len(v) > 1 for v in siblings.values())
    return [
        "NUMA, remote vs local memory: " + (numa or "not measured (`--memory both`"
                                            + ("" if nodes > 1 else "; this machine has one "
                                               "NUMA node") + ")"),
        "hyper-threading, on vs off: " + (ht or "not measured (`--ht both`"
                                          + ("" if has_ht else "; this machine has no "
                                             "hyper-thread siblings") + ")"),
    ]


def peak_lines(frame: pd.DataFrame) -> list[str]:
    """The point closest to the machine's peak, and a warning where points exceed it (the
    peak was then measured while the machine was busy)."""
    ok = ok_points(frame)
    ok = ok[ok["percent_of_peak"].notna()]
    if ok.empty:
        return []
    best = ok.loc[ok["percent_of_peak"].idxmax()]
    basis = best.get("peak_basis")
    lines = [f"closest to its peak: {model_title(best['model'])}, "
             f"{config_text(best)} ({best['task']}): {stats.significant(best['gflops_per_second'])}"
             f" GFLOP/s, {stats.significant(best['percent_of_peak'], 2)}% of "
             f"{best['peak_gflops_per_second']:.0f}"
             + (f" ({basis})" if isinstance(basis, str) and basis else "")]
    above = int((ok["percent_of_peak"] > 100).sum())
    if above:
        lines.append(f"{above} point(s) exceed the measured peak: it was measured while the "
                     "machine was busy, so the % of peak figures are too high "
                     "(`python -m suite env` measures it again)")
    return lines


def precision_line(frame: pd.DataFrame, config: dict[str, Any]) -> str:
    """How many points reached the precision, and for those short of it with several
    processes, how many were held back by the spread between their processes: more than
    --max-processes can average to the target (`stats.processes_for_precision`)."""
    ok = ok_points(frame)
    reached = int(ok["precision_reached"].eq(True).sum())
    precision = float(config.get("precision") or 0.02)
    share = f" ({100 * reached / len(ok):.0f}%)" if len(ok) else ""
    target = f"±{precision * 100:g}%"
    line = (f"precision: {reached} of {len(ok)} measured points reached {target} "
            f"(95% CI of median and throughput){share}")
    short = ok[ok["precision_reached"].ne(True) & ok["processes"].gt(1)]
    most = int(config.get("max_processes") or 0)
    spread = short["process_spread"][[stats.processes_for_precision(v, precision) > most
                                      for v in short["process_spread"]]]
    if len(spread):
        line += (f"; {len(spread)} of the {len(ok) - reached} short were held back by the "
                 f"spread between their processes ({spread.min():.1%} to {spread.max():.1%} "
                 f"sd), more than {most} processes can average to {target}: the "
                 "machine's own run-to-run noise, not too few steps")
    return line


# --- the whole headline ----------------------------------------------------------------

def summarize(frame: pd.DataFrame, config: dict[str, Any], environment: dict[str, Any],
              extra: Sequence[SummarySection] = (), ratios: RunRatios | None = None
              ) -> list[SummarySection]:
    """The headline sections of a run (empty ones left out), then `extra` (e.g. serving);
    with the run's `ratios`, the frameworks compared block by block."""
    sections = [SummarySection("Inference", inference_lines(frame)),
                SummarySection("Training", training_lines(frame)),
                SummarySection(FRAMEWORKS_TITLE, summary_lines(ratios) if ratios else [])]
    out = [s for s in sections if s.lines]
    out.append(SummarySection("NUMA and hyper-threading", placement_lines(frame, environment)))
    if (peak := peak_lines(frame)):
        out.append(SummarySection("Distance to peak", peak))
    out.append(SummarySection("Precision", [precision_line(frame, config)]))
    return out + list(extra)


def plain(text: str) -> str:
    """A summary line for the console: without the Markdown marks."""
    return text.replace("**", "").replace("`", "")


def summary_text(sections: Sequence[SummarySection]) -> str:
    """The headline as console text."""
    out = []
    for s in sections:
        out.append(f"{s.title}:")
        out += [f"  - {plain(line)}" for line in s.lines]
    return "\n".join(out)
