"""The report's "Energy" section: joules per item and average watts where a meter measured.

From the frame's energy columns (`suite.report.frames.energy_columns`, filled from each
point's `suite.energy` record): NVML's total-energy counter on a GPU, RAPL on CPUs that
expose it. A run without a meter gets one line saying why (e.g. this VM's "no readable RAPL
counters"); never an estimate.
"""
from __future__ import annotations

import math

import pandas as pd

from suite.report.frames import model_title
from suite.report.failures import variant_text
from suite.report.page import Bullets, Heading, Table

METHODS = {"nvml_counter": "NVML's total-energy counter of the GPU (millijoules since the "
                           "driver loaded; it moves about every 100 ms)",
           "rapl": "RAPL package counters (/sys/class/powercap), wrap-around handled"}
COLUMNS = ["task", "model", "framework", "optimization", "configuration", "batch",
           "items/s", "J/item", "net J/item", "avg W", "idle W"]


def _figure(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.{digits}g}"


def energy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per measured point with an energy figure, in the frame's order."""
    measured = frame[(frame["status"] == "ok") & frame["joules_per_item"].notna()]
    rows = [[r["task"], model_title(r["model"]), r["framework"], r["optimization"],
             variant_text(r), int(r["batch_size"]), _figure(r["items_per_second"], 4),
             _figure(r["joules_per_item"]), _figure(r["net_joules_per_item"]),
             _figure(r["avg_watts"]), _figure(r["idle_watts"])]
            for r in (row for _, row in measured.iterrows())]
    return pd.DataFrame(rows, columns=COLUMNS)


def energy_blocks(frame: pd.DataFrame) -> list:
    """The section's blocks: the table and how it was measured, or why nothing was."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty or "energy_method" not in ok:
        return []
    table = energy_table(ok)
    if table.empty:
        notes = [n for n in ok["energy_note"].dropna().unique() if n]
        methods = ", ".join(sorted(str(m) for m in ok["energy_method"].dropna().unique()))
        return [Heading(1, "Energy"),
                Bullets([f"not measured ({methods})" + (f": {notes[0]}" if notes else "")])]
    methods = [METHODS.get(m, str(m)) for m in table_methods(ok)]
    imprecise = int((ok["energy_precise"] == False).sum())   # noqa: E712 - a column
    bullets = [f"measured by {'; '.join(methods)}, over each point's timed steps only "
               "(not the cold start or warm-up)",
               "J/item: all the energy of the timed region per item; net J/item: above the "
               "idle power measured just before the point (idle W); avg W: over the region"]
    if imprecise:
        bullets.append(f"{imprecise} point(s) timed for fewer than 10 counter updates: their "
                       "figures are imprecise (points.csv: energy_precise, energy_note)")
    return [Heading(1, "Energy"), Bullets(bullets), Table(table)]


def table_methods(ok: pd.DataFrame) -> list[str]:
    """The methods of the points that have a figure."""
    return sorted(str(m) for m in ok.loc[ok["joules_per_item"].notna(), "energy_method"]
                  .dropna().unique())
