"""How reproducible are the suite's figures? The same small sweep twice, back to back.

Runs one inference sweep into <out>/A and the identical sweep into <out>/B (each a fresh
`python -m suite infer`, its own workers), then prints, per point, A's and B's throughput
and median with A's 95% CIs, and two figures:

  (a) significantly different: the share of points `compare` calls a regression or an
      improvement (its default test and 5% minimum effect; target <= 5%), and the share
      with p < alpha alone
  (b) inside A's CI: the share of run B's medians inside run A's CI of the median, and of
      B's throughputs inside A's throughput CI (target >= 90%)

Identical code ran twice, so every "significant" call is a false alarm and every B figure
outside A's CI is an interval that claimed more precision than a rerun supports. With
`--runs K` it runs K sweeps (A, B, C, ...) and counts every pair of them (K = 3: three pairs).
For reference it also prints what a per-step test (Mann-Whitney U on single steps, ratio
of medians, 5% minimum effect: `compare` before it tested per-process or per-block figures)
would have called significant on the same pairs.

    python benchmarks/reproducibility.py                       # resnet18 @32, bs 1,2,4, 1 thread
    python benchmarks/reproducibility.py --runs 3               # three runs, three pairs
    python benchmarks/reproducibility.py --processes 1          # what one process per point claims
    python benchmarks/reproducibility.py --batches 1-8 --threads 1,2 --out /tmp/repro
"""
from __future__ import annotations

import argparse
import itertools
import string
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as sp

from suite import stats
from suite.report.compare import IMPROVEMENT, REGRESSION, compare_runs
from suite.storage import load_measurements


def sweep(out: Path, args: argparse.Namespace) -> None:
    """One `python -m suite infer` sweep into `out` (its console output passes through)."""
    command = [sys.executable, "-m", "suite", "infer", "--frameworks", args.framework,
               "--models", args.model, "--image-size", str(args.image_size), "--batches",
               args.batches, "--threads", args.threads, "--opts", args.opts, "--processes",
               str(args.processes), "--min-time", str(args.min_time), "--max-time",
               str(args.max_time), "--no-report", "--out", str(out)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def inside(value: float, low: float, high: float) -> bool:
    return low <= value <= high


@dataclass
class Tally:
    """Counts over every compared pair of points."""

    points: int = 0
    called: int = 0          # compare: regression or improvement
    p_only: int = 0          # compare: p < alpha
    per_step: int = 0        # a per-step Mann-Whitney test with the same minimum effect
    medians: int = 0         # B's median inside A's CI of the median
    throughputs: int = 0     # B's throughput inside A's throughput CI
    lines: list[str] = field(default_factory=list)


def per_step_call(a: list[int], b: list[int], min_effect: float, alpha: float) -> bool:
    """What a test on single steps says: Mann-Whitney U p < alpha and medians >= min_effect apart."""
    ratio = float(np.median(b) / np.median(a))
    p = float(sp.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return p < alpha and max(ratio, 1 / ratio) >= 1 + min_effect


def tally_pair(a_dir: Path, b_dir: Path, tally: Tally) -> None:
    """Add one pair of runs to `tally`, a line per point."""
    comparison = compare_runs(a_dir, b_dir)
    a = {m.spec: m for m in load_measurements(a_dir) if m.status == "ok"}
    b = {m.spec: m for m in load_measurements(b_dir) if m.status == "ok"}
    for c in comparison.measured():
        sa, sb = stats.point_summary(a[c.spec]), stats.point_summary(b[c.spec])
        in_median = inside(sb.median_ms, sa.ci_low_ms, sa.ci_high_ms)
        in_tp = inside(sb.items_per_second, sa.items_per_second_ci_low,
                       sa.items_per_second_ci_high)
        step = per_step_call(a[c.spec].samples_ns, b[c.spec].samples_ns,
                             comparison.min_effect, comparison.alpha)
        tally.points += 1
        tally.called += c.verdict in (REGRESSION, IMPROVEMENT)
        tally.p_only += (c.p_value or 1.0) < comparison.alpha
        tally.per_step += step
        tally.medians += in_median
        tally.throughputs += in_tp
        tally.lines.append(
            f"{a_dir.name}->{b_dir.name} {c.spec.label()}\n"
            f"  throughput {stats.ci_text(sa.items_per_second, sa.items_per_second_ci_low, sa.items_per_second_ci_high)}"
            f" -> {stats.ci_text(sb.items_per_second, sb.items_per_second_ci_low, sb.items_per_second_ci_high)} items/s"
            f" (inside: {in_tp}); median {stats.ci_text(sa.median_ms, sa.ci_low_ms, sa.ci_high_ms)}"
            f" -> {stats.ci_text(sb.median_ms, sb.ci_low_ms, sb.ci_high_ms)} ms (inside: {in_median})\n"
            f"  compare: B/A {c.ratio:.4f}, p={c.p_value:.4f} ({c.tested}): {c.verdict};"
            f" per-step test: {'significant' if step else 'no'}")


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.0%}" if total else "no points"


def print_figures(t: Tally, pairs: int) -> None:
    print(f"\n{pairs} pair(s) of runs, {t.points} point pairs"
          f"\n(a) compare calls significantly different (regression or improvement, >= 5%): "
          f"{share(t.called, t.points)}  (target <= 5%)"
          f"\n    p < 0.05 alone: {share(t.p_only, t.points)}"
          f"\n    a per-step test (Mann-Whitney on single steps, >= 5%) would call: "
          f"{share(t.per_step, t.points)}"
          f"\n(b) run-B medians inside run-A's CI of the median: {share(t.medians, t.points)}"
          f"  (target >= 90%)"
          f"\n    run-B throughputs inside run-A's throughput CI: "
          f"{share(t.throughputs, t.points)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", default="pytorch")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batches", default="1,2,4")
    p.add_argument("--threads", default="1")
    p.add_argument("--opts", default="none")
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--max-time", type=float, default=10.0)
    p.add_argument("--runs", type=int, default=2, help="sweeps to run; every pair is compared")
    p.add_argument("--out", help="folder for runs A, B, ... (default: a temporary folder)")
    args = p.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dlbench-repro-"))
    runs = [root / name for name in string.ascii_uppercase[:max(2, args.runs)]]
    for run in runs:
        sweep(run, args)
    tally = Tally()
    pairs = list(itertools.combinations(runs, 2))
    for a, b in pairs:
        tally_pair(a, b, tally)
    print(f"\nruns: {', '.join(str(r) for r in runs)}\n")
    print("\n".join(tally.lines))
    print_figures(tally, len(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
