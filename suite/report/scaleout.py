"""Scale-out in the report: the scaling-efficiency table of data-parallel training points
and where a run's points ran (hosts), flagged when they mix machines.

Scaling efficiency = throughput with N ranks / (N x throughput with one process), per
framework, optimization, model, batch size per rank and threads per rank; the one-process
figure is the run's own single-process point of the same model and batch (a run without
one says so instead of inventing it). Throughputs come from `suite.stats.point_summary`
(Σ items over ranks / the slowest rank's timed time); the straggler ratio (slowest rank's
compute time / the median rank's) as the point stored it (`suite.dataparallel.collective`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite import stats
from suite.env import hardware_key
from suite.report.frames import SPEC_COLUMNS, Run, ok_points
from suite.report.page import Block, Bullets, Heading, Links, Table
from suite.report.tables import markdown_table
from suite.spec import Measurement, PointSpec

SCALING_TITLE = "Data-parallel scaling"
NO_BASELINE = "no 1-process point in this run"
GROUP_FIELDS = ["framework", "optimization", "device", "dtype", "input_size", "threads"]
SCALING_LINES = [
    "throughput: images/sec of all ranks together (Σ images over the ranks / the slowest "
    "rank's timed time) ± the half-width of its 95% confidence interval",
    "batch size and threads are per rank; each rank runs on its own cores",
    "scaling efficiency = throughput with N ranks / (N x throughput with 1 process), from "
    "the point estimates; 100% is linear scaling. The 1-process figure is this run's "
    "single-process point of the same model and batch (sweep --nproc-per-node 1,2,... to "
    "have one)",
    "straggler ratio = the slowest rank's compute time / the median rank's, from each rank's "
    "compute steps run without the all-reduce (1.00: no straggler); \"(timed steps)\" marks "
    "one from the timed steps, whose all-reduce waits hide a straggler"]


def _measurements(run: Run) -> dict[str, Measurement]:
    """The run's points by spec key, as `load_run` read them (once, for every section)."""
    return {m.spec.key(): m for m in run.measurements}


def scaling_table(run: Run) -> pd.DataFrame | None:
    """One row per training point of a model/batch that has a data-parallel point, by
    rank count; None when the run has no data-parallel point."""
    train = ok_points(run.frame)
    train = train[train["task"] == "train"]
    world = train["nproc_per_node"] * train["nnodes"]
    if not (world > 1).any():
        return None
    measured = _measurements(run)
    rows = []
    keys = GROUP_FIELDS + ["model", "batch_size"]
    parallel = train[world > 1]
    for key, _ in parallel.groupby(keys, sort=False):
        same = train
        for name, value in zip(keys, key):
            same = same[same[name] == value]
        same = same.assign(world=same["nproc_per_node"] * same["nnodes"]).sort_values("world")
        base = same[same["world"] == 1]
        base_tp = float(base["items_per_second"].iloc[0]) if not base.empty else None
        for _, r in same.iterrows():
            rows.append(_row(r, base_tp, measured))
    return pd.DataFrame(rows)


def _row(r: pd.Series, base_tp: float | None, measured: dict[str, Measurement]) -> dict:
    world = int(r["world"])
    tp = float(r["items_per_second"])
    if world == 1:
        efficiency = "(the baseline)"
    elif base_tp is None:
        efficiency = NO_BASELINE
    else:
        efficiency = f"{stats.scaling_efficiency(tp, base_tp, world):.0%}"
    straggler = straggler_text(_measurement_of(r, measured))
    ranks = f"{world}" if world == 1 else f"{world} ({int(r['nnodes'])}x{int(r['nproc_per_node'])})"
    return {"framework": r["framework"], "optimization": r["optimization"],
            "model": r["model"], "batch size per rank": int(r["batch_size"]),
            "threads per rank": int(r["threads"]), "ranks (nodes x per node)": ranks,
            "images/sec": stats.ci_text(tp, float(r["items_per_second_ci_low"]),
                                        float(r["items_per_second_ci_high"])),
            "scaling efficiency": efficiency, "straggler ratio": straggler}


def straggler_text(m: Measurement | None) -> str:
    """The point's straggler ratio as stored (`meta["straggler_ratio"]`, from each rank's
    compute steps without the all-reduce), marked "(timed steps)" where it comes from the
    timed steps, which include the all-reduce's wait; older records without it get it from
    their ranks' timed samples. "-" for a single process."""
    if m is None or not m.rank_samples_ns or len(m.rank_samples_ns) < 2:
        return "-"
    meta = m.meta or {}
    ratio = meta.get("straggler_ratio")
    if ratio is None:
        return f"{stats.straggler_ratio(m.rank_samples_ns):.2f} (timed steps)"
    compute = str(meta.get("straggler_basis", "")).startswith("each rank's compute")
    return f"{float(ratio):.2f}" + ("" if compute else " (timed steps)")


def _measurement_of(r: pd.Series, measured: dict[str, Measurement]) -> Measurement | None:
    """The stored point of a frame row (its spec columns give its key)."""
    values = {f: (r[f].item() if hasattr(r[f], "item") else r[f]) for f in SPEC_COLUMNS}
    return measured.get(PointSpec.from_dict(values).key())


def host_lines(run: Run) -> list[str]:
    """Where the points ran, when they say (`meta["host"]`) and either ran on several
    hosts or elsewhere than the run was started (Slurm); [] otherwise."""
    hosts: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for m in _measurements(run).values():
        host = m.meta.get("host")
        if isinstance(host, dict) and host.get("hostname"):
            hosts[host["hostname"]] = host
            counts[host["hostname"]] = counts.get(host["hostname"], 0) + 1
    started_on = run.info.environment.get("hostname")
    if not hosts or (len(hosts) == 1 and started_on in hosts):
        return []
    lines = [f"{name}: {h.get('cpu_model')} ({h.get('physical_cores')} cores, "
             f"{h.get('logical_cores')} threads), {', '.join(h.get('gpus') or []) or 'no GPU'}"
             f" — {counts[name]} point(s)" for name, h in sorted(hosts.items())]
    machines = {hardware_key(h) for h in hosts.values()}
    if len(machines) > 1:
        lines.insert(0, f"MIXED HOSTS: the points ran on {len(machines)} different machines; "
                        "tables and plots put figures from different hardware side by side")
    return lines


def scaleout_blocks(run: Run) -> list[Block]:
    """The report's scale-out sections (nothing for a one-machine, one-process run);
    writes scaling.md and scaling.csv beside the page."""
    blocks: list[Block] = []
    table = scaling_table(run)
    if table is not None:
        write_scaling(table, run.path)
        align = ["l", "l", "l", "r", "r", "r", "r", "l", "r"]
        blocks += [Heading(1, SCALING_TITLE), Bullets(SCALING_LINES), Table(table, align),
                   Links([("scaling.csv", "scaling.csv"), ("scaling.md", "scaling.md")])]
    hosts = host_lines(run)
    if hosts:
        blocks += [Heading(1, "Hosts"), Bullets(hosts)]
    return blocks


def write_scaling(table: pd.DataFrame, out: Path) -> None:
    table.to_csv(out / "scaling.csv", index=False)
    bullets = "\n".join(f"- {line}" for line in SCALING_LINES)
    (out / "scaling.md").write_text(f"# {SCALING_TITLE}\n\n{bullets}\n\n"
                                    + markdown_table(table, ["l", "l", "l", "r", "r", "r",
                                                             "r", "l", "r"]))
