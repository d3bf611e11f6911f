"""Command line: `python -m suite {train,infer,report,compare,models,env,serve,tune,profile}`
(also `dlbench`).

The only place that prints for the user or exits: every UsageError raised below becomes
one line on stderr and exit code 2, a DataWarning one `dlbench: warning:` line. Ctrl-C,
SIGTERM and SIGHUP stop a sweep alike: workers killed, finished points kept, exit code
128 + the signal's number.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from typing import Sequence

from suite.errors import DataWarning, Interrupted, Stop, UsageError
from suite.launchers.options import add_arguments as add_scale_out_arguments
from suite.options import add_model_file_arguments
from suite.profiling import cli as profiling_cli
from suite.sweep import (DEFAULT_MIN_EFFECT, DEFAULT_MIN_STEPS, DEFAULT_PROCESSES,
                         EXTRA_PROCESSES, GPU_HOST_THREADS, TIME_CAP_FACTOR)

TRAIN_EXAMPLES = """examples:
  python -m suite train --models resnet50,vgg16 --batches 10,20,30,40
  python -m suite train --models resnet18 --batches 2,4 --image-size 64 --frameworks pytorch,mxnet
  python -m suite train --models all --device cuda --opts none,compile
  python -m suite train --models resnet50 --batches 32 --threads 4 --nproc-per-node 1,2,4
  python -m suite train --launcher slurm --slurm-partition gpu --device cuda --nnodes 2 --nproc-per-node 8
"""
INFER_EXAMPLES = """examples:
  python -m suite infer --framework onnx
  python -m suite infer --models resnet50,bert_base --batches 1,8,64 --threads 1-16 --opts none,script
  python -m suite infer --frameworks pytorch,mxnet,tensorflow,onnx --opts deployed,none
  python -m suite infer --threads 1,2 --ht both --memory both --mapping interleave
  python -m suite infer --launcher slurm --slurm-partition cpu --slurm-param account=myproj
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _opts_help(task: str) -> str:
    """The --opts help, with each framework's default read from its adapter."""
    import frameworks  # adapter modules only: no deep-learning framework is imported
    defaults = ", ".join(f"{fw} {o} ({frameworks.mode_name(fw, o)})"
                         for fw, o in frameworks.deployed_modes(task).items())
    return ("comma list of none, script, compile and deployed (each framework's deployed "
            f"mode; alias default), e.g. deployed,none. Default: deployed = {defaults}. "
            "A mode a framework lacks is recorded as skipped")


def _sweep_options(p: argparse.ArgumentParser, task: str) -> None:
    g = p.add_argument_group("what to measure")
    g.add_argument("--models", help="comma list of zoo models, or 'all' (see `models`)")
    add_model_file_arguments(g)
    g.add_argument("--frameworks", "--framework", dest="frameworks",
                   help="comma list: pytorch, mxnet, tensorflow, onnx (alias onnxruntime)")
    g.add_argument("--batches", help="batch sizes: a comma list and ranges, e.g. 1,2,4 or 1-8")
    g.add_argument("--opts", help=_opts_help(task))
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--dtype", default="float32",
                   help="comma list of float32 (default), bfloat16, float16, e.g. "
                        "float32,bfloat16: every point is measured in each (a dtype a "
                        "framework lacks is recorded as skipped)")
    g.add_argument("--image-size", type=int, help="image side in pixels (default: the model's)")
    g.add_argument("--seq-len", type=int, help="sequence length for text models (default 128)")
    g.add_argument("--threads", help="intra-op thread counts, e.g. 1-8 or 1,2,4 (default: "
                   + ("all physical cores" if task == "train" else "1 to physical cores")
                   + f"; with --device cuda one setting, min(physical cores, "
                   f"{GPU_HOST_THREADS}), shared by a node's data-parallel ranks)")
    g.add_argument("--interop-threads", type=int, default=1, help="inter-op threads (default 1)")
    g.add_argument("--mapping", default="sequential", help="sequential or interleave core order")
    g.add_argument("--ht", default="off", help="hyper-thread siblings: off, on or both")
    g.add_argument("--memory", default="local", help="NUMA memory: local, remote or both")
    if task == "train":
        g.add_argument("--samples", type=int, default=8000,
                       help="images per point at most: one pass over a synthetic dataset (default 8000)")
        g.add_argument("--optimizer", default="sgd", help="sgd (the only one for now)")
        g.add_argument("--lr", type=float, default=0.01)
        g.add_argument("--momentum", type=float, default=0.9)
        g.add_argument("--weight-decay", type=float, default=1e-4)
    m = p.add_argument_group("how to measure")
    m.add_argument("--precision", type=float, default=0.02,
                   help="stop when the 95%% CIs of the median and of the throughput are "
                        "within ±this fraction (default 0.02)")
    m.add_argument("--min-time", type=float, default=1.0,
                   help="minimum timed seconds per point, shared by its processes")
    m.add_argument("--max-time", type=float, default=10.0,
                   help="maximum timed seconds per point, shared by its processes")
    m.add_argument("--min-steps", type=int, default=DEFAULT_MIN_STEPS, metavar="N",
                   help="timed steps per point that win over --max-time and --samples (a "
                        "large batch needs steps, not seconds, for its CIs to close), up to "
                        f"--time-cap; shared by its processes (default {DEFAULT_MIN_STEPS})")
    m.add_argument("--time-cap", type=float, metavar="S",
                   help="hard limit of timed seconds per point, shared by its processes "
                        f"(default {TIME_CAP_FACTOR:g} x --max-time)")
    m.add_argument("--processes", type=int, default=DEFAULT_PROCESSES, metavar="N",
                   help=f"measure each point in N fresh worker processes (default "
                        f"{DEFAULT_PROCESSES}). One process is one draw of process-level "
                        "noise (memory layout, thread placement, clock): its CI cannot "
                        "show how far a rerun lands. With N >= 3 the point's CI covers the "
                        "spread between processes; 1 is faster but its CI only covers "
                        "step-to-step noise")
    m.add_argument("--max-processes", type=int, metavar="M",
                   help="with --processes N >= 2, a point whose CIs across its N processes "
                        "are still wider than --precision gets more fresh processes, up to "
                        f"M (default N + {EXTRA_PROCESSES}; N turns it off)")
    m.add_argument("--schedule", metavar="ORDER",
                   help="interleaved or sequential. interleaved (the default with "
                        "--processes >= 2): the sweep runs in rounds, each measuring every "
                        "point once in a fresh worker, in a random order seeded by --seed "
                        "(a block's points - those that differ only in framework and "
                        "optimization - back to back), so a point's processes are spread "
                        "over the sweep and its CI covers the machine's drift; --resume "
                        "continues after the last finished round. sequential: a point's "
                        "processes back to back (the only order with --launcher slurm)")
    m.add_argument("--control", metavar="WHICH",
                   help="some, all or none: blocks that get a control arm, a blind second "
                        "copy of the block's reference variant whose ratio to it must come "
                        "out as no difference (the run's own false-positive rate). some "
                        "(the default with --processes >= 2; else none): a random quarter "
                        "of the blocks, at least one, chosen by --seed. Only blocks of two "
                        "or more variants count")
    m.add_argument("--no-control", action="store_true", help="no control arm (--control none)")
    m.add_argument("--reference", metavar="FW[:OPT]",
                   help="the variant each block's ratios are to, e.g. onnx or "
                        "pytorch:script (default: the first of --frameworks in its first "
                        "optimization)")
    m.add_argument("--min-effect", type=float, default=DEFAULT_MIN_EFFECT * 100, metavar="PCT",
                   help="a framework's lead over the reference is claimed only at this "
                        f"effect or more, in %% (default {DEFAULT_MIN_EFFECT * 100:g})")
    m.add_argument("--resolve", type=float, metavar="PCT",
                   help="interleaved rounds: after --processes rounds, a block gets more "
                        "rounds (up to --max-processes) while one of its ratios could not "
                        "yet detect a difference of PCT %% (80%% power, Holm-corrected) and "
                        "the rounds its paired spread needs for that fit (default: off)")
    m.add_argument("--timeout", type=float, default=600.0, help="seconds before a point is abandoned")
    m.add_argument("--memory-limit", type=float, help="worker RSS limit in MiB (default: 90%% of RAM)")
    m.add_argument("--no-oom-skip", action="store_true",
                   help="run larger batches even after a smaller one ran out of memory")
    m.add_argument("--worker-per-point", action=argparse.BooleanOptionalAction, default=True,
                   help="a fresh worker per point (default), so that its memory and cold "
                        "start do not depend on the points before it (framework allocator "
                        "pools and the C heap carry over); --no-worker-per-point shares one "
                        "worker per framework and placement: faster, those figures "
                        "approximate, and the schedule sequential (interleaved rounds "
                        "start a fresh worker for every point)")
    m.add_argument("--seed", type=int, default=0,
                   help="seed of weights, synthetic inputs, the rounds' order and the "
                        "control blocks")
    add_scale_out_arguments(p, task)
    o = p.add_argument_group("output")
    o.add_argument("--out", help="run folder (default results/<timestamp>-<task>)")
    o.add_argument("--resume", action="store_true", help="measure only points missing from --out "
                   "(default: the latest run of this task)")
    o.add_argument("--no-report", action="store_true", help="skip tables, plots and the report")
    o.add_argument("--quiet", action="store_true", help="print only the final summary")
    profiling_cli.add_sweep_argument(o)   # --profile (suite.profiling)
    o.add_argument("--dry-run", action="store_true",
                   help="print the points and the estimated cost, then stop: nothing is "
                        "measured (but the machine's peak) and nothing is written")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dlbench", description="Multi-framework deep-learning benchmark suite.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter
    for task, examples, text in (("train", TRAIN_EXAMPLES, "SGD training speed and memory"),
                                 ("infer", INFER_EXAMPLES, "inference latency and throughput")):
        sp = sub.add_parser(task, help=text, description=text, epilog=examples, formatter_class=fmt)
        _sweep_options(sp, task)
    rp = sub.add_parser("report", help="(re)build tables, plots and the report of a run",
                        epilog="example:\n  python -m suite report results/20260101-120000-infer",
                        formatter_class=fmt)
    rp.add_argument("run_dir")
    cp = sub.add_parser("compare", help="compare two runs point by point", formatter_class=fmt,
                        epilog="example:\n  python -m suite compare results/A results/B "
                               "--fail-on-regression 5")
    cp.add_argument("run_a")
    cp.add_argument("run_b")
    cp.add_argument("--min-effect", type=float, default=5.0, help="minimum effect in %% (default 5)")
    cp.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    cp.add_argument("--fail-on-regression", type=float, metavar="PCT",
                    help="exit 1 when a significant slowdown of at least PCT %% is found")
    cp.add_argument("--allow-different-hosts", action="store_true",
                    help="compare runs from different machines (CPU model, cores or GPU "
                         "differ); refused otherwise")
    cp.add_argument("--profile", action="store_true",
                    help="when both runs were profiled (--profile, `profile RUN_DIR`), "
                         "attribute each significant change to the operator classes whose "
                         "time changed (ms and %% of the change)")
    mp = sub.add_parser("models", help="list the model zoo", formatter_class=fmt,
                        epilog="example:\n  python -m suite models --image-size 64")
    mp.add_argument("--image-size", type=int, help="count multiply-adds (GMACs) at this image size")
    add_model_file_arguments(mp)
    sub.add_parser("env", help="environment fingerprint and what can run here")
    profiling_cli.add_parser(sub, fmt)   # profile RUN_DIR (CONTRACT §17)
    from suite.serving.cli import add_parsers   # serve, tune (CONTRACT §14)
    add_parsers(sub, fmt)
    return p


# Stopping signals besides Ctrl-C's SIGINT: they stop a sweep the same way (workers
# killed, finished points kept) and exit with 128 + the signal's number, as shells report
# a process killed by it: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: object) -> None:
    raise Stop(signum)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """DataWarnings as one `dlbench: warning:` line; others as Python prints them."""
    if issubclass(category, DataWarning):
        print(f"dlbench: warning: {message}", file=sys.stderr)
    else:
        _PYTHON_SHOW_WARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOW_WARNING = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    shown = warnings.showwarning
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, _stop)
        warnings.showwarning = _show_warning
        from suite import commands
        command = ["python -m suite" if sys.argv[0].endswith("__main__.py") else "dlbench"]
        return commands.dispatch(args, command + list(sys.argv[1:] if argv is None else argv))
    except UsageError as e:
        print(f"dlbench: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        name = "interrupted" if e.signum == signal.SIGINT else \
            f"stopped by {signal.Signals(e.signum).name}"
        print(f"\ndlbench: {name} at {time.strftime('%H:%M:%S')}; every finished point is "
              f"saved: continue with --resume --out {e.run_dir}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt as e:
        print(f"\ndlbench: interrupted at {time.strftime('%H:%M:%S')}", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)
    finally:
        warnings.showwarning = shown
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
