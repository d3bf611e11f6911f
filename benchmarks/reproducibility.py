"""Do the suite's figures and verdicts reproduce? The same interleaved sweep twice.

Runs one inference sweep into <out>/A and the identical sweep into <out>/B (each a fresh
`python -m suite infer` at its default settings: 3 processes per point in interleaved
rounds, control arms in a quarter of the blocks), then prints what a user rerunning the
sweep would see:

  (1) absolute figures: the share of cells whose run-B median lies inside run A's CI of
      the median, and whose run-B throughput lies inside A's throughput CI (target >= 90%)
  (2) framework ratios: the share of run B's paired ratios (each variant against its
      block's reference) inside run A's ratio CI (target >= 90%)
  (3) control arms (a blind copy of the reference) called different, both runs (<= 5%)
  (4) `compare A B`: cells with p < 0.05 and >= 5% apart before the Holm correction
      (<= 5%) and its Holm-corrected verdicts (target: none)
  (5) what the runs resolve: the median minimum detectable effect of the ratios (80%
      power), and what limits it: the paired per-round spread, the rounds, and the
      processes' own spread (`process_spread`)
  (6) how far the machine's own speed moved from round to round in each run (the round
      effects, `suite.drift`): the drift absolute figures carry and paired ratios cancel

Identical code ran twice, so every call in (3) and (4) is a false alarm. A figure outside
A's interval in (1) and (2) is not by itself one: a 95% confidence interval covers the
quantity it estimates, and a rerun's figure carries its own error as well, so even with no
drift between the runs it lands inside only 91% of the time at 3 and 3 processes (rounds),
86% at 8 and 8, 83% as they grow (Cumming & Maillardet 2006). (1) and (2) print that
figure for the runs' own process and round counts beside the share found; the gap between
the two is what the machine's drift between the runs adds. With `--runs K` it runs K
sweeps and counts every pair.

    python benchmarks/reproducibility.py          # 2 models x 4 batches x 2 threads x 2 frameworks
    python benchmarks/reproducibility.py --runs 3 --out /tmp/repro
    python benchmarks/reproducibility.py --reuse --out /tmp/repro     # re-tally stored runs
"""
from __future__ import annotations

import argparse
import itertools
import math
import statistics
import string
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite import ratios, stats
from suite.drift import drift_record
from suite.report.compare import IMPROVEMENT, REGRESSION, compare_runs
from suite.storage import load_measurements, read_run_info


def sweep(out: Path, args: argparse.Namespace) -> None:
    """One `python -m suite infer` sweep into `out` (its console output passes through)."""
    command = [sys.executable, "-m", "suite", "infer", "--frameworks", args.frameworks,
               "--models", args.models, "--image-size", str(args.image_size), "--batches",
               args.batches, "--threads", args.threads, "--no-report", "--out", str(out),
               *args.extra]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def inside(value: float, low: float, high: float) -> bool:
    return low <= value <= high


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.0%}" if total else "none"


@dataclass
class Tally:
    """Counts over every compared pair of runs (and, for the controls, every run)."""

    cells: int = 0
    medians: int = 0            # B's median inside A's CI of the median
    throughputs: int = 0        # B's throughput inside A's throughput CI
    ratios: int = 0
    ratios_inside: int = 0      # B's paired ratio inside A's ratio CI
    controls: int = 0
    controls_called: int = 0    # control arms called different (Holm + minimum effect)
    compared: int = 0
    consistent: int = 0         # compare's Welch test: p >= alpha, whatever the effect
    flagged_raw: int = 0        # compare: p < alpha and >= min effect, before Holm
    flagged_holm: int = 0       # compare's verdicts (Holm-corrected)
    expected: list[float] = field(default_factory=list)         # per cell and per ratio:
    expected_ratios: list[float] = field(default_factory=list)  # how often B would land in
    #   A's interval with no drift between the runs (stats.replication_capture)
    mde: list[float] = field(default_factory=list)
    log_sd: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    holm_levels: list[float] = field(default_factory=list)   # each run's level for one more
    #   difference (suite.ratios.holm_level), at which its MDEs are stated
    spreads: list[float] = field(default_factory=list)
    drifts: list[str] = field(default_factory=list)   # each run's round effects, one line
    lines: list[str] = field(default_factory=list)


def run_ratios(run: Path) -> list[ratios.Ratio]:
    return ratios.run_ratios(load_measurements(run), read_run_info(run).config or {})


def tally_run(run: Path, t: Tally) -> None:
    """The controls, the resolvable effect and the processes' spread of one run."""
    judged = run_ratios(run)
    tested = [r for r in judged if r.tested]
    t.holm_levels.append(ratios.holm_level(
        len(tested), sum(r.p_holm < ratios.ALPHA for r in tested)))
    for r in judged:
        if r.control:
            t.controls += 1
            t.controls_called += r.lead
        if r.paired and math.isfinite(r.mde_pct):
            t.mde.append(r.mde_pct)
            t.log_sd.append(r.log_sd)
            t.rounds.append(r.rounds)
    measurements = load_measurements(run)
    t.spreads += [stats.point_process_spread(m) for m in measurements if m.status == "ok"]
    drift = drift_record(measurements)
    if drift is not None:
        t.drifts.append(f"{run.name}: round effects " + " ".join(
            f"{v:+.1f}" for v in drift["effects_pct"].values()) +
            f" % (sd {drift['sd_pct']:.1f}%, range {drift['range_pct']:.1f}%)")


def tally_pair(a_dir: Path, b_dir: Path, t: Tally) -> None:
    """Add one pair of runs to `t`, a line per cell and per ratio."""
    comparison = compare_runs(a_dir, b_dir)
    for c in comparison.measured():
        sa, sb = c.summary_a, c.summary_b
        in_median = inside(sb.median_ms, sa.ci_low_ms, sa.ci_high_ms)
        in_tp = inside(sb.items_per_second, sa.items_per_second_ci_low,
                       sa.items_per_second_ci_high)
        p_value = c.p_value if c.p_value is not None else 1.0   # None: no test ran
        raw = p_value < comparison.alpha and abs(math.log(c.ratio)) >= math.log1p(
            comparison.min_effect)
        t.cells += 1
        t.expected.append(stats.replication_capture(sa.processes, sb.processes))
        t.medians += in_median
        t.throughputs += in_tp
        t.compared += 1
        t.consistent += p_value >= comparison.alpha
        t.flagged_raw += raw
        t.flagged_holm += c.verdict in (REGRESSION, IMPROVEMENT)
        t.lines.append(
            f"{a_dir.name}->{b_dir.name} {c.spec.label()}: throughput "
            f"{stats.ci_text(sa.items_per_second, sa.items_per_second_ci_low, sa.items_per_second_ci_high)}"
            f" -> {sb.items_per_second:.4g} ({'in' if in_tp else 'OUT'}), median "
            f"{stats.ci_text(sa.median_ms, sa.ci_low_ms, sa.ci_high_ms)} -> {sb.median_ms:.4g} ms "
            f"({'in' if in_median else 'OUT'}); compare B/A {c.ratio:.4f} p={c.p_value:.3f} "
            f"Holm p={c.p_holm:.3f}: {c.verdict}")
    for change in comparison.ratio_changes:
        if change.a.control:
            continue
        t.ratios += 1
        t.expected_ratios.append(stats.replication_capture(change.a.rounds, change.b.rounds))
        t.ratios_inside += change.inside
        t.lines.append(
            f"{a_dir.name}->{b_dir.name} ratio {change.b.spec.label()} / "
            f"{change.b.reference.label()}: {change.a.ratio:.4f} [{change.a.low:.4f}, "
            f"{change.a.high:.4f}] -> {change.b.ratio:.4f} [{change.b.low:.4f}, "
            f"{change.b.high:.4f}] ({'in' if change.inside else 'OUT'})")
    if comparison.ratio_note:
        t.lines.append(f"{a_dir.name}->{b_dir.name} ratios: {comparison.ratio_note}")


ESTIMATORS = {   # a process's figure for one round, items per ns (per step: the batch cancels)
    "sum items / sum time": lambda steps: steps.size / steps.sum(),
    "1 / median step": lambda steps: 1.0 / float(np.median(steps)),
    "10%-trimmed mean": lambda steps: 1.0 / float(np.sort(steps)[:max(1, int(0.9 * steps.size))].mean()),
}


def estimator_ratios(run: Path, figure) -> dict[tuple, tuple[float, float, float, float]]:
    """Each variant's paired ratio to its block reference with `figure` as the per-process
    estimator: (ratio, low, high, sd of the per-round log-ratios)."""
    out = {}
    for r in run_ratios(run):
        if not r.paired:
            continue
        m, ref = (next(x for x in load_measurements(run) if x.spec == s)
                  for s in (r.spec, r.reference))
        per_round = []
        for point in (m, ref):
            parts = stats.split_processes(np.asarray(point.samples_ns, dtype=float),
                                          point.samples_per_process)
            per_round.append({k: figure(p) for k, p in zip(ratios.process_rounds(point), parts)})
        logs = ratios.paired_log_ratios(per_round[0], per_round[1])
        mean, sd, se, df = ratios.paired_stats(logs)
        ratio, low, high = ratios.log_interval(mean, se, df)
        out[(r.spec.key(), r.reference.key())] = (ratio, low, high, sd)
    return out


def print_estimators(runs: list[Path]) -> None:
    """Would a robust per-process estimator lower the paired spread, keeping coverage?"""
    print("\nper-process estimator   paired sd (median)   B ratios inside A's CI")
    for name, figure in ESTIMATORS.items():
        by_run = [estimator_ratios(run, figure) for run in runs]
        sds = [v[3] for r in by_run for v in r.values()]
        hits = total = 0
        for a, b in itertools.combinations(by_run, 2):
            for key in a.keys() & b.keys():
                total += 1
                hits += a[key][1] <= b[key][0] <= a[key][2]
        print(f"{name:22s}  {100 * median(sds):.2f}%               {share(hits, total)}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def projected_mde(log_sd: float, rounds: int, level: float) -> float:
    """The MDE (%) `rounds` rounds would give at paired spread `log_sd`, tested at `level`
    (a run's Holm level, as its own MDEs are: suite.ratios.judge)."""
    return ratios.mde_from_se(log_sd / math.sqrt(rounds), rounds - 1, level)


def expected_text(capture: list[float], what: str) -> str:
    """What a calibrated 95% interval would give: the mean over the pairs of how often a
    rerun lands inside it with no drift between the runs (stats.replication_capture)."""
    finite = [c for c in capture if math.isfinite(c)]
    if not finite:
        return ""
    return (f"\n    with no drift between the runs, a 95% interval holds a rerun's figure "
            f"{100.0 * statistics.fmean(finite):.0f}% of the time at these {what} "
            f"(mean over the pairs; 91% at 3 and 3, 86% at 8 and 8)")


def print_figures(t: Tally, pairs: int, runs: int) -> None:
    print(f"\n{runs} runs, {pairs} pair(s), {t.cells} cell pairs, {t.ratios} ratio pairs"
          f"\n(1) run-B medians inside run-A's CI of the median: {share(t.medians, t.cells)}"
          f"  (target >= 90%)"
          f"\n    run-B throughputs inside run-A's throughput CI: "
          f"{share(t.throughputs, t.cells)}  (target >= 90%)"
          + expected_text(t.expected, "process counts") +
          f"\n    A and B consistent by compare's Welch test on per-process figures (both "
          f"runs' errors; p >= 0.05, whatever the effect): {share(t.consistent, t.compared)}"
          f"  (95% with no drift between the runs)" +
          f"\n(2) run-B framework ratios inside run-A's ratio CI: "
          f"{share(t.ratios_inside, t.ratios)}  (target >= 90%)"
          + expected_text(t.expected_ratios, "round counts") +
          f"\n(3) control arms called different: {share(t.controls_called, t.controls)}"
          f"  (target <= 5%)"
          f"\n(4) compare A B, p < 0.05 and >= 5% apart before Holm: "
          f"{share(t.flagged_raw, t.compared)}  (target <= 5%)"
          f"\n    compare's Holm-corrected verdicts (regression or improvement): "
          f"{share(t.flagged_holm, t.compared)}  (target: none)")
    rounds = int(median([float(r) for r in t.rounds])) if t.rounds else 0
    sd_pct = 100.0 * math.expm1(median(t.log_sd)) if t.log_sd else math.nan
    level = median(t.holm_levels)
    print(f"(5) median minimum detectable effect of the ratios (80% power): "
          f"{median(t.mde):.1f}% over {len(t.mde)} ratios, at the runs' Holm level "
          f"(alpha/{ratios.ALPHA / level:.0f} = {level:.4f}: one more difference among the "
          f"ratios a run tests)"
          f"\n    limited by: the paired per-round spread (median sd of the per-round "
          f"log-ratios {sd_pct:.1f}%) over {rounds} rounds; with that spread, at that level "
          + ", ".join(f"{n} rounds resolve {projected_mde(median(t.log_sd), n, level):.1f}%"
                      for n in (5, 8, 12, 20) if t.log_sd)
          + "; one ratio alone (alpha 0.05): "
          + ", ".join(f"{n} rounds {ratios.mde_pct(median(t.log_sd), n):.1f}%"
                      for n in (5, 8) if t.log_sd)
          + f"\n    the processes' own spread (process_spread, median over points): "
          f"{100.0 * median(t.spreads):.1f}%, max {100.0 * max(t.spreads, default=math.nan):.1f}%"
          f"\n(6) the machine's own speed from round to round (suite.drift), each run:"
          + "".join(f"\n    {line}" for line in t.drifts))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default="pytorch,onnx")
    p.add_argument("--models", default="resnet18,squeezenet")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batches", default="1,2,4,8")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=2, help="sweeps to run; every pair is compared")
    p.add_argument("--out", help="folder for runs A, B, ... (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true",
                   help="tally the runs already in --out instead of running them")
    p.add_argument("--estimators", action="store_true",
                   help="also compare per-process estimators (mean, median, trimmed) on the runs")
    p.add_argument("extra", nargs="*", help="further `suite infer` options, after --")
    args = p.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dlbench-repro-"))
    runs = [root / name for name in string.ascii_uppercase[:max(2, args.runs)]]
    if not args.reuse:
        for run in runs:
            sweep(run, args)
    tally = Tally()
    for run in runs:
        tally_run(run, tally)
    pairs = list(itertools.combinations(runs, 2))
    for a, b in pairs:
        tally_pair(a, b, tally)
    print(f"\nruns: {', '.join(str(r) for r in runs)}\n")
    print("\n".join(tally.lines))
    print_figures(tally, len(pairs), len(runs))
    if args.estimators:
        print_estimators(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
