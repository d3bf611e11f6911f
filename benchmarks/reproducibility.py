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
outside A's CI is an interval that claimed more precision than a rerun supports.

    python benchmarks/reproducibility.py                       # resnet18 @32, bs 1,2,4, 1 thread
    python benchmarks/reproducibility.py --processes 1          # what one process per point claims
    python benchmarks/reproducibility.py --batches 1-8 --threads 1,2 --out /tmp/repro
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from suite import stats
from suite.report.compare import IMPROVEMENT, REGRESSION, Comparison, compare_runs
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


def point_rows(a_dir: Path, b_dir: Path) -> list[tuple[str, stats.Summary, stats.Summary]]:
    """(label, A's summary, B's summary) of every point measured ok in both runs."""
    a = {m.spec: m for m in load_measurements(a_dir) if m.status == "ok"}
    b = {m.spec: m for m in load_measurements(b_dir) if m.status == "ok"}
    return [(spec.label(), stats.point_summary(a[spec]), stats.point_summary(b[spec]))
            for spec in sorted(a.keys() & b.keys())]


def print_points(rows: list[tuple[str, stats.Summary, stats.Summary]],
                 comparison: Comparison) -> None:
    verdicts = {c.spec.label(): c for c in comparison.measured()}
    for label, sa, sb in rows:
        c = verdicts[label]
        print(f"{label}\n"
              f"  throughput A {stats.ci_text(sa.items_per_second, sa.items_per_second_ci_low, sa.items_per_second_ci_high)}"
              f"  B {stats.ci_text(sb.items_per_second, sb.items_per_second_ci_low, sb.items_per_second_ci_high)} items/s"
              f"  B inside A's CI: {inside(sb.items_per_second, sa.items_per_second_ci_low, sa.items_per_second_ci_high)}\n"
              f"  median     A {stats.ci_text(sa.median_ms, sa.ci_low_ms, sa.ci_high_ms)}"
              f"  B {stats.ci_text(sb.median_ms, sb.ci_low_ms, sb.ci_high_ms)} ms"
              f"  B inside A's CI: {inside(sb.median_ms, sa.ci_low_ms, sa.ci_high_ms)}\n"
              f"  compare: B/A {c.ratio:.4f}, p={c.p_value:.4f} ({c.tested}): {c.verdict}")


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.0%}" if total else "no points"


def print_figures(rows: list[tuple[str, stats.Summary, stats.Summary]],
                  comparison: Comparison) -> None:
    measured = comparison.measured()
    called = sum(c.verdict in (REGRESSION, IMPROVEMENT) for c in measured)
    p_only = sum((c.p_value or 1.0) < comparison.alpha for c in measured)
    medians = sum(inside(sb.median_ms, sa.ci_low_ms, sa.ci_high_ms) for _, sa, sb in rows)
    throughputs = sum(inside(sb.items_per_second, sa.items_per_second_ci_low,
                             sa.items_per_second_ci_high) for _, sa, sb in rows)
    print(f"\n(a) compare calls significantly different (regression or improvement, "
          f">= {comparison.min_effect:.0%}): {share(called, len(measured))}  (target <= 5%)"
          f"\n    p < {comparison.alpha:g} alone: {share(p_only, len(measured))}"
          f"\n(b) run-B medians inside run-A's CI of the median: {share(medians, len(rows))}"
          f"  (target >= 90%)"
          f"\n    run-B throughputs inside run-A's throughput CI: {share(throughputs, len(rows))}")


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
    p.add_argument("--out", help="folder for runs A and B (default: a temporary folder)")
    args = p.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dlbench-repro-"))
    for name in ("A", "B"):
        sweep(root / name, args)
    comparison = compare_runs(root / "A", root / "B")
    rows = point_rows(root / "A", root / "B")
    print(f"\nruns: {root / 'A'} and {root / 'B'}\n")
    print_points(rows, comparison)
    print_figures(rows, comparison)
    return 0


if __name__ == "__main__":
    sys.exit(main())
