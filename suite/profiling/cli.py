"""The command line of profiles: `--profile` on `train` / `infer`, `python -m suite profile
RUN_DIR`, and what `suite.commands` calls around a sweep. As `suite.serving.cli`, this is
the room's own part of the command line: it prints for the user; errors are UsageErrors
that `suite.cli.main` turns into one line and exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

PROFILE_HELP = ("after the sweep, profile every ok point once more in its own worker "
                "process (never a timed one) with its framework's profiler: ms per step "
                "per operator class, the framework's overhead and the profiler's own cost, "
                "in points.jsonl (`profile`), profile.csv and the report's \"Where the time "
                "goes\" section")
PROFILE_EXAMPLES = """examples:
  python -m suite profile results/20260101-120000-train
  python -m suite profile results/20260101-120000-infer --window 2 --no-report
"""


def add_sweep_argument(group: Any) -> None:
    """`--profile` on `train` and `infer`."""
    group.add_argument("--profile", action="store_true", help=PROFILE_HELP)


def add_parser(sub: Any, fmt: Any) -> None:
    """The `profile RUN_DIR` subcommand."""
    p = sub.add_parser("profile", help="profile the points of a finished run (where the time "
                       "goes)", description=PROFILE_HELP.replace("after the sweep, ", ""),
                       epilog=PROFILE_EXAMPLES, formatter_class=fmt)
    p.add_argument("run_dir")
    p.add_argument("--window", type=float, default=1.0, metavar="S",
                   help="seconds of steps per window (profiled and unprofiled; default 1)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before a point's profile worker is abandoned")
    p.add_argument("--no-report", action="store_true", help="do not rebuild the report")
    p.add_argument("--quiet", action="store_true", help="print only where the results are")


def check_sweep(args: argparse.Namespace, cfg: Any) -> None:
    """Before a sweep: refuse a `--profile` that cannot run (one line, exit 2)."""
    if getattr(args, "profile", False):
        from suite.profiling.driver import check_profile_options
        check_profile_options(cfg.launcher, list(cfg.nproc_per_node), bool(args.dry_run))


def after_sweep(args: argparse.Namespace, cfg: Any, run_dir: Path, topo: Any,
                settings: dict[str, Any]) -> None:
    """After a sweep with `--profile`: profile its points (before its report is built)."""
    if not getattr(args, "profile", False):
        return
    from suite.profiling.driver import profile_points, profile_settings
    profile_points(run_dir, topo, profile_settings(cfg.to_dict(), {
        "model_files": settings.get("model_files") or {}}), cfg.timeout,
        cfg.memory_limit_mib, None if args.quiet else _say)


def profile(args: argparse.Namespace, argv: list[str], build_report: Callable[[Path], Path]
            ) -> int:
    """`python -m suite profile RUN_DIR`: profile the points of a finished run, then rebuild
    its report with `build_report` (given by suite.commands: suite.report is a room above)."""
    from suite import storage
    from suite.errors import UsageError
    from suite.options import check_positive
    from suite.profiling.breakdown import PROFILE_CSV
    from suite.profiling.driver import profile_points, profile_settings
    run_dir = Path(args.run_dir)
    info = storage.read_run_info(run_dir)
    window = check_positive(args.window, "--window", 600.0)
    timeout = check_positive(args.timeout, "--timeout")
    if info.task not in ("train", "infer"):
        raise UsageError(f"{run_dir} is a {info.task} run; profile profiles train and infer "
                         "runs")
    done = profile_points(run_dir, settings=profile_settings(
        info.config, {"profile": {"window_s": window}}), timeout_s=timeout,
        progress=None if args.quiet else _say)
    if not done:
        raise UsageError(f"{run_dir} has no ok train or infer point of one process to profile")
    print(f"profiles: {run_dir / storage.POINTS_FILE} (`profile`), {run_dir / PROFILE_CSV}")
    if not args.no_report:
        print(f"report:   {build_report(run_dir)}")
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
