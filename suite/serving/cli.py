"""The `serve` and `tune` commands: their options, validation and console output."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import frameworks
from suite import options as opt
from suite import storage
from suite.errors import Interrupted, UsageError
from suite.serving.loadgen import SCENARIOS, import_loadgen
from suite.serving.rundir import check_launcher, open_run, run_dir_for
from suite.serving.serve import ServeConfig, run_serve
from suite.topology import Topology, instance_core_sets, read_topology, reserve_cores

MAX_QPS = 1_000_000.0       # offered or expected queries per second: LoadGen schedules
#                             rate x duration queries up front
MAX_P99_MS = 3_600_000.0    # an hour
MIN_REPEATS, MAX_REPEATS = 3, 100

SERVE_EXAMPLES = """examples:
  python -m suite serve --framework onnx --models resnet18 --image-size 32 --scenario server --qps 50
  python -m suite serve --framework onnx --models resnet18 --image-size 32 --configs 1x2,2x1 --qps 20,40,80
  python -m suite serve --framework pytorch --models resnet50 --find-peak --p99 50 --qps 10
  python -m suite serve --framework onnx --models resnet18 --scenario offline --qps 200 --max-batch 8
  python -m suite serve --framework onnx --models resnet18 --qps 20,40,80 --resume --out results/my-serve

A short run is INVALID by LoadGen's rules. A valid MLPerf-length run (mlperf.conf) needs
--duration 600 in every scenario, and: Server, LoadGen's early-stopping test at p99 (with
no query over the bound about 460 queries, more when some are over); SingleStream, its
early-stopping test at p90; MultiStream (tune --batch) --min-queries 662; Offline
24,576 samples for ResNet-50 (--min-queries 24576, and --qps at least the real rate).
"""
TUNE_EXAMPLES = """examples:
  python -m suite tune --framework onnx --models resnet18 --image-size 32 --qps 50 --p99 100
  python -m suite tune --framework onnx --models resnet18 --image-size 32 --batch 8
  python -m suite tune --framework onnx --models resnet18 --image-size 32 --batch 8 --resume --out results/my-tune

tune exits 1 when its verification shows that the recommendation did not meet the goal.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", "--model", dest="models", default=None,
                   help="one zoo model (default resnet50), or file:PATH.onnx")
    opt.add_model_file_arguments(p)
    p.add_argument("--frameworks", "--framework", dest="frameworks", default="onnx",
                   help="one framework: pytorch, mxnet, tensorflow, onnx (default onnx)")
    p.add_argument("--opts", help="one optimization (default: the framework's deployed mode)")
    p.add_argument("--image-size", type=int, help="image side in pixels (default: the model's)")
    p.add_argument("--seq-len", type=int, help="sequence length for text models")
    p.add_argument("--p99", type=float, default=100.0, metavar="MS",
                   help="p99 latency bound in ms (Server's LoadGen constraint; default 100)")
    p.add_argument("--duration", type=float, default=5.0, metavar="S",
                   help="LoadGen's minimum duration per test in seconds (default 5; MLPerf: 600)")
    p.add_argument("--min-queries", type=int, default=64,
                   help="LoadGen's minimum query count per test (default 64)")
    p.add_argument("--ht", action="store_true", help="use hyper-thread siblings")
    p.add_argument("--straddle-numa", action="store_true",
                   help="let an instance take cores of several NUMA nodes")
    p.add_argument("--harness-cores", type=int, default=0, metavar="N",
                   help="keep the last N physical cores for LoadGen and the dispatchers "
                        "(default 0: they share the instances' cores; on large machines 1 "
                        "keeps their work off the measured cores)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds an instance may take to run one batch (default 120; "
                        "starting one may take 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--launcher", default="local",
                   help="local (default, the only one serving has: LoadGen and the "
                        "instances run as one system on one machine)")
    p.add_argument("--out", help="run folder (default results/<timestamp>-serve|tune)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out (default: the latest run of "
                        "this command): finished tests are not measured again")
    p.add_argument("--no-report", action="store_true", help="skip the report")
    p.add_argument("--quiet", action="store_true", help="print only the final lines")


def add_parsers(sub: Any, fmt: Any) -> None:
    sp = sub.add_parser("serve", help="latency under load, driven by MLPerf LoadGen",
                        description="K pinned instances under MLPerf LoadGen (CONTRACT §14)",
                        epilog=SERVE_EXAMPLES, formatter_class=fmt)
    _common(sp)
    sp.add_argument("--scenario", default="server", help=f"one of {', '.join(SCENARIOS)}")
    sp.add_argument("--qps", default="10", help="offered QPS, a comma list, each once, up to "
                    f"{MAX_QPS:,.0f} (server; offline: expected); with --find-peak one rate, the "
                    "first probe (default 10)")
    sp.add_argument("--instances", type=int, help="instances (default 1; 1 to the cores)")
    sp.add_argument("--threads", type=int, help="threads per instance (default: cores / "
                    "instances; 1 to cores / instances)")
    sp.add_argument("--configs", help="comma list of INSTANCESxTHREADS, e.g. 1x2,2x1 "
                    "(instead of --instances/--threads; each once)")
    sp.add_argument("--max-batch", type=int, default=4, help="dynamic batching: largest batch (default 4)")
    sp.add_argument("--batch-timeout", type=float, default=1.0, metavar="MS",
                    help="dynamic batching: how long a partial batch waits (default 1 ms)")
    sp.add_argument("--find-peak", action="store_true",
                    help="search the highest QPS whose p99 stays within --p99")
    sp.add_argument("--peak-steps", type=int, default=6, help="probes of the peak search")
    tp = sub.add_parser("tune", help="recommend instances x threads x batch, and verify it",
                        description="profile, choose and verify a serving configuration",
                        epilog=TUNE_EXAMPLES, formatter_class=fmt)
    _common(tp)
    tp.add_argument("--batch", type=int, help="goal: the lowest latency of a batch of B samples")
    tp.add_argument("--qps", type=float, help="goal: the highest QPS with p99 <= --p99 "
                    "(also the traffic at which the p99 of each candidate is profiled)")
    tp.add_argument("--batches", default="1,2,4,8",
                    help="--qps goal: the max-batch candidates (default 1,2,4,8)")
    tp.add_argument("--batch-timeout", type=float, default=1.0, metavar="MS")
    tp.add_argument("--profile-duration", type=float, default=2.0, metavar="S",
                    help="LoadGen duration of each profiling test (default 2)")
    tp.add_argument("--peak-steps", type=int, default=5, help="probes of each verification's peak search")
    tp.add_argument("--repeats", type=int, default=MIN_REPEATS,
                    help=f"verification repeats of the recommendation and of the baseline, "
                         f"interleaved, for the speedup's CI (default and minimum "
                         f"{MIN_REPEATS})")


def _configs(args: argparse.Namespace, topo: Topology, ht: bool) -> list[tuple[int, int]]:
    """--configs, or --instances x --threads (default one instance on every core); each
    value within the machine, none twice."""
    cpus = topo.logical_cpus if ht else topo.physical_cores
    if args.configs:
        if args.instances is not None or args.threads is not None:
            raise UsageError("--configs lists INSTANCESxTHREADS; give it without "
                             "--instances/--threads")
        out: list[tuple[int, int]] = []
        for item in args.configs.split(","):
            k, sep, t = item.strip().lower().partition("x")
            if not sep or not k.isdigit() or not t.isdigit() or int(k) < 1 or int(t) < 1:
                raise UsageError(f"--configs: malformed {item!r}; expected INSTANCESxTHREADS "
                                 f"such as 1x{topo.physical_cores},{topo.physical_cores}x1")
            if (int(k), int(t)) in out:
                raise UsageError(f"--configs: {item.strip()} is given twice; give each "
                                 "configuration once")
            out.append((int(k), int(t)))
        return out
    unit = "logical CPUs" if ht else "physical cores"
    k = _count(args.instances, "--instances", cpus, 1, f"{cpus} {unit}, one instance each "
               "at most")
    per = max(1, cpus // k)
    return [(k, _count(args.threads, "--threads", per, per,
                       f"threads per instance: {cpus} {unit} / {k} instance(s)"))]


def _count(value: int | None, option: str, most: int, default: int, why: str) -> int:
    """An instance or thread count: `default` when not given, else 1..`most`."""
    if value is None:
        return default
    if not 1 <= value <= most:
        raise UsageError(f"{option} {value}: valid 1-{most} ({why})")
    return value


def _rates(text: str, option: str) -> list[float]:
    """A comma list of rates, each in (0, MAX_QPS], none twice (order kept)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{option}: malformed list {text!r}; expected numbers, e.g. "
                         "10,20,40") from None
    seen: list[float] = []
    for v in values:
        _rate(v, option)
        if v in seen:
            raise UsageError(f"{option}: {v:g} is given twice; give each rate once")
        seen.append(v)
    return seen


def _rate(value: float, option: str) -> float:
    if not 0 < value <= MAX_QPS:     # NaN fails too
        raise UsageError(f"{option} {value:g}: valid above 0 and at most {MAX_QPS:,.0f} "
                         "queries per second")
    return value


def resolve(args: argparse.Namespace, topo: Topology, scenario: str = "server") -> ServeConfig:
    """Validate the options common to serve and tune into a ServeConfig."""
    from suite.models import zoo
    fw = opt.parse_names(args.frameworks, "--framework", list(frameworks.REGISTRY),
                         frameworks.ALIASES)
    from suite.models.imported import models_with_files
    models = models_with_files(args.models, args.model_file, args.model_name, "resnet50")
    if len(fw) != 1 or len(models) != 1:
        raise UsageError("serving measures one framework and one model at a time "
                         f"(got {', '.join(fw)} and {', '.join(models)})")
    framework, model = fw[0], models[0]
    optimization = frameworks.deployed_optimization(framework, "infer") if args.opts is None \
        else opt.parse_choice(args.opts, "--opts", frameworks.OPTIMIZATIONS)
    why = frameworks.get_adapter(framework).unsupported("infer", optimization, "cpu")
    if why:
        raise UsageError(f"{framework} {optimization}: {why}")
    size = None if zoo.is_imported(model) else \
        args.image_size if zoo.is_image_model(model) else args.seq_len
    zoo.get_model(model, size)    # raises naming the smallest valid size (an imported
    #                               model's is its file's)
    return ServeConfig(
        framework=framework, optimization=optimization, model=model,
        input_size=size or zoo.default_input_size(model), scenario=scenario,
        configs=[], qps=[], p99_ms=opt.check_positive(args.p99, "--p99", MAX_P99_MS),
        duration_s=opt.check_positive(args.duration, "--duration"),
        min_queries=int(opt.check_positive(args.min_queries, "--min-queries")),
        ht=args.ht, straddle_numa=args.straddle_numa,
        timeout=opt.check_positive(args.timeout, "--timeout"), seed=args.seed)


def _check_configs(cfg: ServeConfig, topo: Topology) -> None:
    for k, t in cfg.configs:
        instance_core_sets(topo, k, t, cfg.ht, cfg.straddle_numa)  # raises with the valid range


def _log(args: argparse.Namespace):
    return (lambda text: None) if args.quiet else \
        (lambda text: print(text, file=sys.stderr, flush=True))


def _machine(args: argparse.Namespace) -> tuple[Topology, Topology]:
    """The whole machine (for the fingerprint) and the part the instances may use; with
    --harness-cores this process (LoadGen, the dispatchers) is pinned to the rest."""
    import os
    whole = read_topology()
    topo, harness = reserve_cores(whole, int(args.harness_cores))
    if harness:
        os.sched_setaffinity(0, harness)
    return whole, topo


Report = Callable[[Path], Path]   # builds a run's report page, returns index.md's path


def serve(args: argparse.Namespace, argv: list[str], report: Report | None = None) -> int:
    import_loadgen()
    check_launcher(args.launcher, "serve")
    whole, topo = _machine(args)
    scenario = opt.parse_choice(args.scenario, "--scenario", SCENARIOS)
    cfg = resolve(args, topo, scenario)
    cfg.configs = _configs(args, topo, cfg.ht)
    _check_configs(cfg, topo)
    cfg.qps = _rates(args.qps, "--qps")
    cfg.max_batch = int(opt.check_positive(args.max_batch, "--max-batch"))
    cfg.batch_timeout_ms = opt.check_range(args.batch_timeout, "--batch-timeout", 0.0)
    cfg.find_peak, cfg.peak_steps = args.find_peak, int(opt.check_positive(args.peak_steps, "--peak-steps"))
    if cfg.find_peak and scenario != "server":
        raise UsageError("--find-peak searches Server rates (valid with --scenario server)")
    if cfg.find_peak and len(cfg.qps) > 1:
        raise UsageError(f"--find-peak starts from one rate; give one --qps (got {args.qps})")
    run_dir = run_dir_for(args.out, args.resume, "serve")
    config = dict(cfg.to_dict(), task="serve", harness_cores=args.harness_cores,
                  launcher="local")
    done = open_run(run_dir, argv, config, whole, args.resume)
    _interruptible(run_dir, lambda: run_serve(cfg, topo, run_dir, _log(args), done,
                                              _point_meta(whole)))
    _finish(args, run_dir, report)
    return 0


def tune(args: argparse.Namespace, argv: list[str], report: Report | None = None) -> int:
    from suite.serving.tune import TuneGoal, run_tune, verdict_lines
    import_loadgen()
    check_launcher(args.launcher, "tune")
    if (args.batch is None) == (args.qps is None):
        raise UsageError("tune needs one goal: --batch B (lowest latency of a batch) or "
                         "--qps Q --p99 MS (highest QPS with p99 within the bound)")
    by_batch = args.batch is not None
    whole, topo = _machine(args)
    cfg = resolve(args, topo, "multistream" if by_batch else "server")
    cfg.batch_timeout_ms = opt.check_range(args.batch_timeout, "--batch-timeout", 0.0)
    if not MIN_REPEATS <= args.repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats {args.repeats}: valid {MIN_REPEATS}-{MAX_REPEATS} (the "
                         "speedup's CI needs several interleaved repeats)")
    goal = TuneGoal(batch=int(opt.check_positive(args.batch, "--batch")) if by_batch else None,
                    qps=None if by_batch else _rate(args.qps, "--qps"),
                    p99_ms=cfg.p99_ms,
                    batches=opt.parse_ints(args.batches, "--batches"),
                    profile_duration_s=opt.check_positive(args.profile_duration, "--profile-duration"),
                    peak_steps=int(opt.check_positive(args.peak_steps, "--peak-steps")),
                    repeats=args.repeats)
    run_dir = run_dir_for(args.out, args.resume, "tune")
    config = dict(cfg.to_dict(), task="tune", goal=goal.to_dict(),
                  harness_cores=args.harness_cores, launcher="local")
    done = open_run(run_dir, argv, config, whole, args.resume)
    result = _interruptible(run_dir, lambda: run_tune(cfg, goal, topo, run_dir, _log(args),
                                                      done, _point_meta(whole)))
    for line in verdict_lines(result):
        print(line)
    _finish(args, run_dir, report)
    return 0 if result.get("status") == "ok" and result.get("goal_met") else 1


def _point_meta(whole: Topology) -> dict[str, Any]:
    """What every point carries, as `--launcher local` sweep points do: its host."""
    from suite.env import host_fingerprint
    return {"host": host_fingerprint(whole)}


def _interruptible(run_dir: Path, work: Callable[[], Any]) -> Any:
    """`work()`, a Ctrl-C (or SIGTERM / SIGHUP) turned into `Interrupted`, which the CLI
    reports with the `--resume` command that continues the run."""
    try:
        return work()
    except KeyboardInterrupt as e:
        raise Interrupted(getattr(e, "signum", signal.SIGINT), str(run_dir)) from None


def _finish(args: argparse.Namespace, run_dir: Path, report: Report | None) -> None:
    """The results line, and the report page where the CLI passed its builder (`report`:
    the report room imports serving, so serving never imports it back)."""
    print(f"results:  {run_dir / storage.POINTS_FILE}")
    if args.no_report or report is None:
        return
    index = report(run_dir)
    print(f"report:   {index} and {index.with_suffix('.html')}")