"""The paired ratios on the page: the "Ratios" section, and ratio columns in the training
cross-framework tables (CONTRACT §9, §15). Formatting only; the figures come from
`suite.report.ratio_tables.ratios_of` (computed once per report)."""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import pandas as pd

from frameworks import mode_label
from suite.ratios import Ratio
from suite.drift import drift_line
from suite.report.flags import flag_line
from suite.report.frames import model_title
from suite.report.page import Block, Bullets, Heading, Links, Table
from suite.report.ratio_tables import (RATIOS_FILE, RunRatios, block_title, control_line,
                                       mark_of, pairing_line, ratio_ci_text, resolution_line,
                                       variant_label, varying_fields)
from suite.report.cross_tables import CrossTable
from suite.report.tables import CONDITION_FIELDS, LEAD_HEADER, TrainGroup

RATIOS_TITLE = "Ratios"
TABLE_COLUMNS = ["block", "variant", "reference", "ratio (95% CI)", "rounds", "MDE",
                 "verdict"]
RATIO_LINE = ("ratio columns: the column's images/sec over {ref}'s in the same block, "
              "per round, with the 95% CI over rounds; bold: a lead (Holm-corrected over "
              "the run's ratios, at least the minimum effect); otherwise what the cell "
              "resolves. Section \"Ratios\" and ratios.csv have every ratio")


def mde_text(r: Ratio) -> str:
    return f"{r.mde_pct:.1f}%" if math.isfinite(r.mde_pct) else ""


def ratios_table(ratios: Sequence[Ratio]) -> pd.DataFrame:
    """Every ratio of the run, one row each: block, variant, reference, ratio with its CI,
    rounds, minimum detectable effect, verdict (leads in bold)."""
    varying = varying_fields(ratios)
    rows = []
    for r in ratios:
        ci = ratio_ci_text(r) or f"{r.ratio:.2f}x (no CI)"
        rows.append({"block": block_title(r.spec, varying), "variant": variant_label(r.spec),
                     "reference": variant_label(r.reference),
                     "ratio (95% CI)": f"**{ci}**" if r.lead else ci,
                     "rounds": str(r.rounds) if r.paired else "unpaired",
                     "MDE": mde_text(r), "verdict": r.verdict})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def ratio_blocks(rr: RunRatios) -> list[Block]:
    """The "Ratios" section: how to read it, the certificate, the table, ratios.csv."""
    if not rr.ratios:
        return []
    cert = rr.certificate
    about = ["ratio: a variant's throughput over its block reference's (the points that "
             "differ only in framework and optimization), > 1: faster; in an interleaved "
             "run taken per round, both points measured back to back, so a drift of the "
             "machine cancels; 95% CI: t-interval of the per-round log-ratios",
             "verdict: a lead (faster/slower, in bold) only where the paired t-test's "
             f"p-value, Holm-corrected over the run's {cert.get('tested', 0)} tested ratios, "
             f"is below {cert.get('alpha', 0.05):g} and the effect at least "
             f"{cert.get('min_effect', 0) * 100:g}%; MDE: the effect this cell would "
             f"resolve with {cert.get('power', 0.8) * 100:.0f}% power"]
    facts = [line for line in (pairing_line(cert), resolution_line(cert), control_line(cert),
                               drift_line(cert)) if line]
    facts += [flag_line(key, reason, "ratios are shown but do not compare")
              for key, reason in rr.flags.items()]
    return [Heading(1, RATIOS_TITLE), Bullets(about + facts), Table(ratios_table(rr.ratios),
                                                                    ["l"] * 3 + ["r"] * 3 + ["l"]),
            Links([(RATIOS_FILE, RATIOS_FILE)])]


# --- the training cross-framework tables ----------------------------------------------------

def _matches(r: Ratio, group: TrainGroup, model: str, batch: int) -> bool:
    s = r.spec
    return (s.task == "train" and not getattr(s, "arm", "") and s.framework == group.framework
            and s.optimization == group.optimization and s.model == model
            and int(s.batch_size) == int(batch)
            and all(getattr(s, f) == group.conditions[f] for f in CONDITION_FIELDS))


def _cell(r: Ratio | None) -> str:
    if r is None:
        return ""
    if r.lead:
        return f"**{ratio_ci_text(r)}**{mark_of(r)}"
    return r.verdict.replace("no difference resolved (this cell resolves ", "no difference "
                             "resolved (resolves ") if r.tested else ""


def with_ratio_columns(tables: list[CrossTable], groups: Sequence[TrainGroup],
                       ratios: Sequence[Ratio]) -> list[CrossTable]:
    """The cross-framework tables with a ratio column per non-reference framework column
    in place of the lead column, where the run's ratios have CIs; unchanged otherwise
    (one process per point: the CI-overlap lead stays)."""
    tested = [r for r in ratios if r.tested and r.spec.task == "train" and not r.control]
    if not tested:
        return tables
    ref = tested[0].reference
    titles = {model_title(m): m for g in groups for m in g.points["model"]}
    return [_with_ratios(t, groups, tested, (ref.framework, ref.optimization), titles)
            for t in tables]


def _with_ratios(t: CrossTable, groups: Sequence[TrainGroup], ratios: Sequence[Ratio],
                 reference: tuple[str, str], titles: dict[str, str]) -> CrossTable:
    table = t.table.drop(columns=[LEAD_HEADER])
    for column in table.columns:      # the CI-overlap bold gives way to the paired leads
        table[column] = table[column].map(lambda v: v.replace("**", "")
                                          if isinstance(v, str) else v)
    csv = t.csv.drop(columns=[LEAD_HEADER]) if t.csv is not None else None
    models = [titles.get(title, title) for title in table["model"]]
    ref_label = mode_label(*reference)
    for g in groups:
        if (g.framework, g.optimization) == reference:
            continue
        found = [next((r for r in ratios if _matches(r, g, m, t.batch_size)), None)
                 for m in models]
        if not any(found):
            continue
        name = f"{g.label} / {ref_label}"
        table[name] = [_cell(r) for r in found]
        if csv is not None:
            csv[name] = [r.ratio if r else None for r in found]
            csv[f"{name} CI low"] = [r.low if r else None for r in found]
            csv[f"{name} CI high"] = [r.high if r else None for r in found]
            csv[f"{name} verdict"] = [r.verdict if r else "" for r in found]
    lines = [line for line in t.lines if not line.startswith("bold: ")]
    return dataclasses.replace(t, table=table, csv=csv,
                               lines=lines + [RATIO_LINE.format(ref=ref_label)])

