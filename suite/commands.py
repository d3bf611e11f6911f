"""What each CLI command does: resolve options, run, print results. Called by suite.cli."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

import frameworks
from suite import options as opt
from suite import storage
from suite.launchers import options as scale_out
from suite.launchers.node import check_local_machine
from suite.errors import Interrupted, UsageError
from suite.models.imported import model_files_setting
from suite.peak import PEAK_KEY, env_peak_lines, peak_text, peak_warnings
from suite.profiling import cli as profiling_cli
from suite.spec import PointSpec
from suite.sweep import (SEED_BATCHES, TIME_CAP_FACTOR, TRAIN_BATCHES,
                         SweepConfig, control_blocks,
                         default_memory_limit_mib, expand, gpu_host_threads, loop_settings,
                         max_processes, resolve_round_options, unsupported_reason)
from suite.topology import Topology, format_cpu_list, read_topology

TRAIN_FRAMEWORKS = ("pytorch", "mxnet", "tensorflow")
DTYPES = ("float32", "bfloat16", "float16")
DEPLOYED = "deployed"   # --opts value: each framework's deployed mode (the default)
OPTS_ALIASES = {"default": DEPLOYED}


def dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    from suite.report import build_report
    from suite.serving import cli as serving_cli
    handlers = {"train": run_sweep, "infer": run_sweep, "report": report, "compare": compare,
                "models": models, "env": env,
                "profile": lambda a, v: profiling_cli.profile(a, v, build_report),
                "serve": lambda a, v: serving_cli.serve(a, v, build_report),
                "tune": lambda a, v: serving_cli.tune(a, v, build_report)}
    return handlers[args.command](args, argv)


# ------------------------------------------------------------------ train / infer

def resolve(args: argparse.Namespace, topo: Topology) -> SweepConfig:
    """Validate every option and fill the defaults that make the bare commands meaningful."""
    from suite.models import zoo
    task = args.command
    names = list(frameworks.REGISTRY)
    default_fw = ",".join(TRAIN_FRAMEWORKS) if task == "train" else "pytorch"
    # `is None`, not `or`: an empty value (--models "") is a malformed list, not the default
    fws = opt.parse_names(_given(args.frameworks, default_fw), "--frameworks", names,
                          frameworks.ALIASES)
    image_models = [m for m in zoo.MODEL_NAMES if zoo.is_image_model(m)]
    default_models = ",".join(image_models[:16]) if task == "train" else "resnet50"
    # Extra models (e.g. resnet50_v1, bert_large) run when named, and are not part of `all`.
    from suite.models.imported import models_with_files
    models = models_with_files(args.models, args.model_file, args.model_name, default_models)
    device = opt.parse_choice(args.device, "--device", ("cpu", "cuda"))
    cap = 16 * topo.physical_cores  # default cap on CPU: keeps 1..1024 sweeps tractable
    default_batches = TRAIN_BATCHES if task == "train" else \
        [b for b in SEED_BATCHES if device == "cuda" or b <= cap]
    batches = opt.parse_ints(args.batches, "--batches") if args.batches is not None \
        else list(default_batches)
    opts = opt.parse_names(_given(args.opts, DEPLOYED), "--opts",
                           frameworks.OPTIMIZATIONS + (DEPLOYED,), OPTS_ALIASES)
    ht = opt.parse_choice(args.ht, "--ht", ("off", "on", "both"))
    memory = opt.parse_choice(args.memory, "--memory", ("local", "remote", "both"))
    mapping = opt.parse_choice(args.mapping, "--mapping", ("sequential", "interleave"))
    scale = scale_out.resolve(args)
    ranks = max(scale.nproc_per_node)
    if args.threads is not None:
        threads = opt.parse_ints(args.threads, "--threads")
    elif device == "cuda":
        threads = [gpu_host_threads(topo, ranks)]   # one setting: see GPU_HOST_THREADS
    else:   # training: all physical cores, shared among a node's data-parallel ranks
        threads = [max(1, topo.physical_cores // ranks)] if task == "train" \
            else list(range(1, topo.physical_cores + 1))
    # here for --launcher local; a Slurm job checks its node (suite.launchers.node)
    check_local_machine(scale.launcher, topo, device, max(threads), ranks, mapping, ht, memory)
    optimizations = framework_optimizations(fws, opts, task)
    processes = int(opt.check_positive(args.processes, "--processes", 101))
    rounds = resolve_round_options(args.schedule, args.control, args.no_control,
                                   args.reference, args.min_effect, processes, scale.launcher,
                                   fws, optimizations, frameworks.ALIASES,
                                   bool(args.worker_per_point), args.resolve)
    cfg = SweepConfig(
        task=task, frameworks=fws, models=models, batches=batches,
        optimizations=optimizations, schedule=rounds.schedule, control=rounds.control,
        reference=rounds.reference, min_effect=rounds.min_effect, resolve=rounds.resolve,
        threads=threads, device=device, dtypes=opt.parse_names(args.dtype, "--dtype", DTYPES),
        input_size=args.image_size, seq_len=args.seq_len,
        interop_threads=int(opt.check_positive(args.interop_threads, "--interop-threads")),
        mapping=mapping, ht=ht, memory=memory,
        precision=opt.check_positive(args.precision, "--precision", 1.0),
        min_time=opt.check_positive(args.min_time, "--min-time"),
        max_time=opt.check_positive(args.max_time, "--max-time"),
        min_steps=int(opt.check_range(args.min_steps, "--min-steps", 0, 10**9)),
        time_cap=TIME_CAP_FACTOR * args.max_time if args.time_cap is None
        else opt.check_positive(args.time_cap, "--time-cap"),
        timeout=opt.check_positive(args.timeout, "--timeout"),
        memory_limit_mib=default_memory_limit_mib() if args.memory_limit is None
        else opt.check_positive(args.memory_limit, "--memory-limit"),
        oom_skip=not args.no_oom_skip,
        worker_per_point=bool(args.worker_per_point),
        processes=processes, max_processes=max_processes(args.max_processes, processes),
        seed=int(opt.check_range(args.seed, "--seed", 0, 2**32)),
        nproc_per_node=scale.nproc_per_node, nnodes=scale.nnodes, launcher=scale.launcher,
        slurm=scale.slurm)
    if cfg.max_time < cfg.min_time:
        raise UsageError(f"--max-time {cfg.max_time:g} is below --min-time {cfg.min_time:g}")
    if cfg.time_cap is not None and cfg.time_cap < cfg.max_time:
        raise UsageError(f"--time-cap {cfg.time_cap:g} is below --max-time {cfg.max_time:g}")
    if task == "train":
        cfg.samples = int(opt.check_positive(args.samples, "--samples"))
        cfg.optimizer = opt.parse_choice(args.optimizer, "--optimizer", ("sgd",))
        cfg.lr = opt.check_positive(args.lr, "--lr")
        cfg.momentum = opt.check_range(args.momentum, "--momentum", 0.0, 1.0)
        cfg.weight_decay = opt.check_range(args.weight_decay, "--weight-decay", 0.0)
    return cfg


def _given(value: str | None, default: str) -> str:
    return default if value is None else value


def framework_optimizations(fws: list[str], requested: list[str],
                            task: str) -> dict[str, list[str]]:
    """Each framework's optimizations for `task`, "deployed" replaced by the mode its
    adapter declares; order kept, duplicates dropped. Explicit modes apply to every
    framework; a combination one lacks is recorded as skipped when the sweep runs."""
    resolved = {}
    for fw in fws:
        try:
            deployed = frameworks.deployed_optimization(fw, task)
        except ImportError:   # a broken adapter module: its points are skipped with the reason
            deployed = "none"
        resolved[fw] = list(dict.fromkeys(deployed if o == DEPLOYED else o for o in requested))
    return resolved


def input_sizes(cfg: SweepConfig) -> dict[str, int]:
    """Each model's input size: the override where given (validated), else its default."""
    from suite.models import zoo
    sizes = {}
    for name in cfg.models:
        if zoo.is_imported(name):   # the file fixes its input size
            sizes[name] = zoo.default_input_size(name)
            continue
        size = cfg.input_size if zoo.is_image_model(name) else cfg.seq_len
        zoo.get_model(name, size)  # raises UsageError naming the smallest valid size
        sizes[name] = size or zoo.default_input_size(name)
    return sizes


def _run_dir(args: argparse.Namespace, task: str) -> Path:
    if args.out:
        return Path(args.out)
    if args.resume:
        runs = sorted(Path("results").glob(f"*-{task}"))
        if not runs:
            raise UsageError(f"--resume: no earlier {task} run in results/; give --out RUN_DIR")
        return runs[-1]
    return Path("results") / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}"


def run_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    from suite.env import fingerprint
    from suite import launchers
    from suite.progress import ConsoleReporter
    from suite.runner import RunOptions
    from suite.resume import resume_run
    topo = read_topology()
    cfg = resolve(args, topo)
    specs = expand(cfg, input_sizes(cfg))
    cfg.control_blocks = control_blocks(specs)
    profiling_cli.check_sweep(args, cfg)   # a --profile that cannot run: refused now
    if args.dry_run:
        return _dry_run(cfg, specs, topo)
    run_dir = _run_dir(args, cfg.task)
    environment, now = fingerprint(topo), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    done: set[str] = set()
    if args.resume:
        # the report divides by the run's own peak: a resume keeps it, measures none
        done = resume_run(run_dir, argv, cfg.to_dict(), environment, now)
        peak = storage.read_run_info(run_dir).environment.get(PEAK_KEY)
    elif any((run_dir / name).exists() for name in (storage.POINTS_FILE,
                                                     storage.PROCESSES_FILE)):
        raise UsageError(f"{run_dir} already holds results; use --resume or another --out")
    else:
        peak = _measure_peak(cfg, topo, args.quiet)
        environment[PEAK_KEY] = peak
        storage.write_run_info(run_dir, storage.RunInfo(
            run_id=run_dir.name, task=cfg.task, command=argv, config=cfg.to_dict(),
            environment=environment, started_at=now))
    settings = loop_settings(cfg)
    settings["model_files"] = model_files_setting()   # the workers import them again
    if settings["model_files"] and not args.resume:
        _check_equivalence(run_dir, specs, min(cfg.threads), args.quiet)
    if not args.quiet:
        print(_estimate(cfg, specs, peak, settings, done, topo),
              file=sys.stderr)
    launcher = launchers.create(cfg.launcher, run_dir, topo, RunOptions(
        settings=settings, timeout_s=cfg.timeout,
        memory_limit_mib=cfg.memory_limit_mib, oom_skip=cfg.oom_skip,
        worker_per_point=cfg.worker_per_point, processes=cfg.processes,
        max_processes=cfg.max_processes, schedule=cfg.schedule,
        reference=(cfg.reference["framework"], cfg.reference["optimization"])
        if cfg.reference else None, resolve=cfg.resolve),
        ConsoleReporter(quiet=args.quiet, peak=peak),
        lambda s: unsupported_reason(s, topo), cfg.slurm)
    try:
        launcher.run(specs, done)
    except KeyboardInterrupt as e:   # Ctrl-C, or SIGTERM / SIGHUP (errors.Stop)
        raise Interrupted(getattr(e, "signum", signal.SIGINT), str(run_dir)) from None
    _store_certificate(run_dir)
    profiling_cli.after_sweep(args, cfg, run_dir, topo, settings)   # --profile
    if not args.no_report:
        _print_report_paths(run_dir)
    return 0


def _check_equivalence(run_dir: Path, specs: list[PointSpec], threads: int,
                       quiet: bool) -> None:
    """Before timing: each imported model against its file (suite.equivalence), run.json."""
    from suite.equivalence import check_run_models
    info = storage.read_run_info(run_dir)
    info.equivalence = check_run_models(model_files_setting(), specs, threads)
    storage.write_run_info(run_dir, info)
    for name, record in info.equivalence.items():
        if not quiet:
            print(f"{name}: {record['summary']}", file=sys.stderr)


def _store_certificate(run_dir: Path) -> None:
    """run.json keeps what the finished run can resolve (CONTRACT §15): the rounds, each
    cell's paired spread and MDE, the control arms' result, the machine's drift between
    rounds (`suite.certificate`)."""
    from suite.certificate import run_certificate
    info = storage.read_run_info(run_dir)
    info.certificate = run_certificate(storage.load_measurements(run_dir), info.config)
    storage.write_run_info(run_dir, info)


def _dry_run(cfg: SweepConfig, specs: list[PointSpec], topo: Topology) -> int:
    """--dry-run: the points a sweep would run and what it would cost; nothing is
    measured or written, except the peak the estimate needs (about a second per thread
    count; on a GPU a few seconds, in a child that imports torch or cupy)."""
    from suite.progress import point_label
    peak = _measure_peak(cfg, topo, quiet=False)
    for spec in specs:
        reason = unsupported_reason(spec, topo)
        print(point_label(spec) + (f"  (skipped: {reason})" if reason else ""))
    print(_estimate(cfg, specs, peak, loop_settings(cfg), set(), topo))
    return 0


def _estimate(cfg: SweepConfig, specs: list[PointSpec], peak: dict[str, Any] | None,
              settings: dict[str, Any], done: set[str], topo: Topology) -> str:
    """The sweep's cost, before it starts (points that will be skipped or are stored left out)."""
    from suite.cost import sweep_estimate
    return sweep_estimate(cfg, [s for s in specs if s.key() not in done
                                and not unsupported_reason(s, topo)], peak, settings)


def _measure_peak(cfg: SweepConfig, topo: Topology, quiet: bool) -> dict[str, Any]:
    """The peak the sweep's points are divided by (`suite.cost.measure_sweep_peak`)."""
    from suite.cost import measure_sweep_peak
    peak = measure_sweep_peak(cfg, topo)
    if not quiet:
        what = "GPU peak (dense matrix product)" if cfg.device == "cuda" else \
            "machine peak (float32 FMA limit)"
        print(f"{what}: {peak_text(peak)}", *peak_warnings(peak), sep="\n", file=sys.stderr)
    return peak


def _print_report_paths(run_dir: Path) -> None:
    from suite.report import build_report_with_summary
    from suite.report.summary import summary_text
    try:
        index, headline = build_report_with_summary(run_dir)
    except OSError as e:   # a full disk or a read-only folder: the points stay as they are
        raise UsageError(f"cannot write the report into {run_dir}: {e.strerror or e} "
                         f"(the points are kept; rebuild with `report {run_dir}`)") from None
    print(f"results:  {run_dir / storage.POINTS_FILE}")
    tables = sorted(p.name for p in run_dir.glob("*.md") if p.name != "index.md")
    if tables:
        print(f"tables:   {run_dir}/ ({', '.join(tables)})")
    plots = list((run_dir / "plots").rglob("*.png")) if (run_dir / "plots").exists() else []
    if plots:
        print(f"plots:    {run_dir / 'plots'} ({len(plots)} pictures)")
    print("\nsummary:\n" + summary_text(headline) + "\n")
    print(f"report:   {index} and {index.with_suffix('.html')}")


# ------------------------------------------------------------- report / compare

def report(args: argparse.Namespace, argv: list[str]) -> int:
    run_dir = Path(args.run_dir)
    storage.read_run_info(run_dir)
    _print_report_paths(run_dir)
    return 0


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    for path in (args.run_a, args.run_b):
        storage.read_run_info(Path(path))
    from suite.report.compare import compare_runs
    min_effect = opt.check_positive(args.min_effect, "--min-effect", 100.0)
    alpha = opt.check_positive(args.alpha, "--alpha", 1.0)
    result = compare_runs(Path(args.run_a), Path(args.run_b), min_effect / 100.0, alpha,
                          allow_different_hosts=args.allow_different_hosts,
                          profile=args.profile)
    print(result.render())
    if args.fail_on_regression is not None:
        threshold = opt.check_positive(args.fail_on_regression, "--fail-on-regression")
        bad = result.regressions(threshold)
        if bad:
            print(f"{len(bad)} significant regression(s) of at least {threshold:g}%",
                  file=sys.stderr)
            return 1
    return 0


# ----------------------------------------------------------------- models / env

def models(args: argparse.Namespace, argv: list[str]) -> int:
    from suite.models import imported, zoo
    if len(args.model_name) > len(args.model_file):
        raise UsageError(f"{len(args.model_name)} --model-name values for "
                         f"{len(args.model_file)} --model-file; give one name per file")
    if args.model_file:
        names = list(args.model_name) + [None] * len(args.model_file)
        print("\n\n".join(imported.describe_model_file(path, name) for path, name
                           in zip(args.model_file, names)))
        return 0
    if args.image_size is not None and args.image_size < 1:
        raise UsageError(f"--image-size: {args.image_size} must be a positive integer")
    rows = zoo.describe_zoo() if args.image_size is None else \
        zoo.describe_zoo(image_size=args.image_size)
    header = f"{'name':<18} {'title':<18} {'input':<14} {'params':>13} {'GMACs':>8} {'top-5':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        top5 = f"{r['reference_top5']:.1f}%" if r["reference_top5"] is not None else "unknown"
        shape = "x".join(str(d) for d in r["input_shape"])
        print(f"{r['name']:<18} {r['title']:<18} {shape:<14} {r['params']:>13,} "
              f"{r['gmacs']:>8.2f} {top5:>7}")
    print("\nGMACs: billions of multiply-adds per item, one forward pass. One multiply-add is\n"
          "two floating-point operations: the GFLOP/s stored per point count 2 x GMACs\n"
          "(x 3 for a training step: forward + backward).")
    return 0


def env(args: argparse.Namespace, argv: list[str]) -> int:
    from suite.env import fingerprint, framework_status
    fp = fingerprint()
    print(f"CPU:       {fp['cpu_model']} ({fp['physical_cores']} physical cores, "
          f"{fp['logical_cores']} logical, {fp['sockets']} socket(s))")
    for node in fp["numa_nodes"]:
        print(f"NUMA node {node['node']}: CPUs {format_cpu_list(node['cpus'])}")
    freq = fp["frequency"]
    print(f"frequency: governor {freq['governor'] or 'not readable'}, turbo "
          f"{ {True: 'on', False: 'off', None: 'not readable'}[freq['turbo']] }")
    for gpu in fp["gpus"] or []:
        memory = "memory unknown" if gpu.get("memory_mib") is None \
            else f"{gpu['memory_mib']:.0f} MiB"
        print(f"GPU:       {gpu.get('name') or 'unknown GPU'} ({memory}, "
              f"driver {gpu.get('driver') or 'unknown'})")
    if not fp["gpus"]:
        print("GPU:       none found")
    print(f"native:    {'built' if fp['native'] else 'NOT BUILT'}; CUDA "
          f"{'available' if fp['cuda'] else fp['cuda_reason']}")
    print("versions:  " + ", ".join(f"{k} {v}" for k, v in fp["versions"].items()))
    print(f"git:       {fp['git_commit'] or 'unknown'}")
    print(*env_peak_lines(), sep="\n")
    print("\nframeworks:")
    for name in frameworks.REGISTRY:
        status = framework_status(name)
        if status["ok"]:
            opts = "; ".join(f"{task}: {', '.join(o)}" for task, o in status["optimizations"].items())
            print(f"  {name:<11} {status['version']:<12} devices {', '.join(status['devices'])}; {opts}")
        else:
            print(f"  {name:<11} unavailable: {status['reason']} (install: {status['install']})")
    return 0

