"""The paired ratios in the report (CONTRACT §15): `ratios.csv`, the "Ratios" section, the
summary's lines, and ratio columns in the training cross-framework tables.

Everything here is computed once per report from the run's measurements
(`ratios_of(run)`, `suite.ratios`) and formatted; nothing re-reads the run folder. A ratio
is the variant's throughput over its block reference's (> 1: faster), with its 95% CI; a
lead is stated only where `suite.ratios.judge` calls one (Holm-corrected over the run's
ratios, at least the minimum effect); elsewhere the cell says what it resolves.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from frameworks import mode_label
from suite import stats
from suite.ratios import BLOCK_COLUMNS, PLACEMENT_FIELDS, Ratio, ratio_record, run_ratios
from suite.report.flags import MARK, FlagKey, run_flags
from suite.report.frames import Run, model_title
from suite.certificate import run_certificate
from suite.drift import drift_line

RATIOS_FILE = "ratios.csv"
RATIO_COLUMNS = [*BLOCK_COLUMNS, "framework", "optimization", "arm", "ref_framework",
                 "ref_optimization", "ratio", "ratio_low", "ratio_high", "rounds", "mde_pct",
                 "verdict"]
# fields a block title names when the run's blocks differ in them (model, batch and
# threads always)
TITLE_FIELDS = ("task", "device", "dtype", "input_size", "interop_threads", "mapping", "ht",
                "memory", "nproc_per_node", "nnodes")
MAX_SUMMARY_BLOCKS = 12      # per-block lines in the summary; the section has them all


@dataclass
class RunRatios:
    """A run's judged ratios and its certificate (`suite.certificate.run_certificate`)."""

    ratios: list[Ratio] = field(default_factory=list)
    certificate: dict[str, Any] = field(default_factory=dict)
    flags: dict[FlagKey, str] = field(default_factory=dict)    # suite.report.flags

    @property
    def comparisons(self) -> list[Ratio]:
        """The ratios between variants (control arms left out)."""
        return [r for r in self.ratios if not r.control]


def ratios_of(run: Run) -> RunRatios:
    """The run's ratios and certificate, from the measurements loaded with it."""
    config = run.info.config if isinstance(run.info.config, dict) else {}
    ratios = run_ratios(run.measurements, config)
    flags = run_flags(run.info.equivalence)
    return RunRatios(with_marks(ratios, flags),
                     run_certificate(run.measurements, config, ratios), flags)


def with_marks(ratios: Sequence[Ratio], flags: dict[FlagKey, str]) -> list[Ratio]:
    """The ratios, those of a flagged variant or reference (`suite.report.flags`: not the
    model file's function) with MARK after their verdict, in ratios.csv and on the page."""
    def key(spec: Any) -> FlagKey:
        return spec.model, spec.framework, spec.optimization
    return [dataclasses.replace(r, verdict=f"{r.verdict} {MARK}")
            if key(r.spec) in flags or key(r.reference) in flags else r for r in ratios]


def mark_of(r: Ratio) -> str:
    """" ≠" for a ratio `with_marks` marked, else ""."""
    return f" {MARK}" if r.verdict.endswith(MARK) else ""


# --- ratios.csv -----------------------------------------------------------------------------

def ratios_frame(ratios: Sequence[Ratio]) -> pd.DataFrame:
    """ratios.csv: RATIO_COLUMNS, then the placement fields the run's blocks differ in
    (`memory` for a `--memory both` sweep), so no two rows look alike."""
    records = [ratio_record(r) for r in ratios]
    extra = [f for f in PLACEMENT_FIELDS if len({rec[f] for rec in records}) > 1]
    return pd.DataFrame([{k: rec[k] for k in RATIO_COLUMNS + extra} for rec in records],
                        columns=RATIO_COLUMNS + extra)


def write_ratios_csv(ratios: Sequence[Ratio], run_dir: Path) -> None:
    """Write ratios.csv (an old one is removed when the run has no ratios)."""
    path = Path(run_dir) / RATIOS_FILE
    if ratios:
        ratios_frame(ratios).to_csv(path, index=False)
    elif path.exists():
        path.unlink()


# --- words ----------------------------------------------------------------------------------

def variant_label(spec: Any) -> str:
    """"onnx (ORT optimized)", "pytorch (eager), control arm"."""
    label = mode_label(spec.framework, spec.optimization)
    return label + (", control arm" if getattr(spec, "arm", "") else "")


def _threads(n: int) -> str:
    return "default threads" if not n else f"{n} thread" + ("" if n == 1 else "s")


def varying_fields(ratios: Sequence[Ratio]) -> list[str]:
    """The TITLE_FIELDS the ratios' blocks differ in."""
    return [f for f in TITLE_FIELDS if len({getattr(r.spec, f) for r in ratios}) > 1]


def block_title(spec: Any, varying: Sequence[str] = ()) -> str:
    """"ResNet-18, batch 4, 2 threads", plus the `varying` fields ("..., bfloat16")."""
    words = {"task": lambda v: "training" if v == "train" else "inference",
             "input_size": lambda v: f"size {v}", "ht": lambda v: "HT on" if v else "HT off",
             "memory": lambda v: f"{v} memory", "interop_threads": lambda v: f"{v} inter-op",
             "nproc_per_node": lambda v: f"{v} ranks/node", "nnodes": lambda v: f"{v} nodes"}
    parts = [model_title(spec.model), f"batch {spec.batch_size}", _threads(spec.threads)]
    parts += [words.get(f, str)(getattr(spec, f)) for f in varying]
    return ", ".join(parts)


def ratio_ci_text(r: Ratio) -> str:
    """"1.69x [1.62, 1.76]", rounded to the digits the CI supports (`stats.rounded_to_ci`);
    "" without an interval."""
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        return ""
    value, low, high = stats.rounded_to_ci(r.ratio, r.low, r.high)
    if low is None:
        value, low, high = (f"{v:.3f}" for v in (r.ratio, r.low, r.high))
    return f"{value}x [{low}, {high}]"


def ratio_phrase(r: Ratio) -> str:
    """"onnx (ORT optimized) 1.69x pytorch (eager) [1.62, 1.76]" for a lead, else
    "onnx (ORT optimized) vs pytorch (eager): <verdict>"."""
    label, ref = variant_label(r.spec), variant_label(r.reference)
    if r.lead:
        value, _, bounds = ratio_ci_text(r).partition(" ")
        return f"{label} {value} {ref} {bounds}{mark_of(r)}"
    return f"{label} vs {ref}: {r.verdict}"


def block_lines(ratios: Sequence[Ratio], limit: int | None = None) -> list[str]:
    """One line per block: its title and each variant's phrase; `limit` blocks at most,
    then how many more."""
    varying = varying_fields(ratios)
    by_block: dict[str, list[Ratio]] = {}
    for r in ratios:
        by_block.setdefault(block_title(r.spec, varying), []).append(r)
    lines = [f"{title}: " + "; ".join(ratio_phrase(r) for r in items)
             for title, items in by_block.items()]
    if limit is not None and len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more blocks (section "
                                 f"\"Ratios\", {RATIOS_FILE})"]
    return lines


def resolution_line(cert: dict[str, Any]) -> str | None:
    """"this run resolves differences of 3.1% or more (median over cells; ...)"."""
    mde = cert.get("mde_pct_median")
    if mde is None:
        return None
    basis = (f"{cert['rounds']} rounds" if cert.get("paired") else "unpaired processes")
    asked = cert.get("resolve") or {}
    goal = (f"; asked to resolve {asked['target_pct']:g}% (--resolve): {asked['cells_resolving']}"
            f" of {asked['cells']} cells do") if asked.get("cells") else ""
    return (f"this run resolves differences of {stats.effect_text(mde)} or more (median over cells; "
            f"{cert['power'] * 100:.0f}% power, Holm-corrected over {cert['tested']} ratios, "
            f"{basis}){goal}; a lead is claimed only at {cert['min_effect'] * 100:g}% or more")


def control_line(cert: dict[str, Any]) -> str | None:
    """"control arms: 0 of 4 called different (...)", None without control arms."""
    control = cert.get("control") or {}
    if not control.get("arms"):
        return None
    return (f"control arms: {control['called_different']} of {control['tested']} called "
            f"different (blind copies of the reference: the run's own false-positive rate; "
            f"{control['ci_excludes_one']} with an uncorrected 95% CI excluding 1)")


def pairing_line(cert: dict[str, Any]) -> str | None:
    """Why the ratios are unpaired or have no CI; None when they are paired."""
    note = cert.get("note") or ""
    if not note:
        return None
    if not cert.get("tested"):
        return f"ratios not available: {note}; no CI is stated"
    return (f"ratios unpaired: {note}, so a drift of the machine between a block's points "
            "is not cancelled; CIs over each point's processes (Welch)")


def summary_lines(rr: RunRatios) -> list[str]:
    """The summary's "Frameworks compared" lines: per block, then what the run resolves and
    the control arms' result; for a run without pairs, why."""
    cert, comparisons = rr.certificate, rr.comparisons
    if not comparisons:
        return []
    tested = [r for r in comparisons if r.tested]
    lines = [line for line in (pairing_line(cert),) if line]
    if tested:
        ref = variant_label(tested[0].reference)
        lines.append(f"throughput over {ref} in the same block (> 1: faster), 95% CI over "
                     + ("rounds" if cert.get("paired") else "processes") + ":")
        lines += block_lines(tested, MAX_SUMMARY_BLOCKS)
    return lines + [line for line in (resolution_line(cert), control_line(cert),
                                      drift_line(cert)) if line]
