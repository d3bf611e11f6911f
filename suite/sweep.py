"""A sweep: the validated configuration of a train or infer command, expanded to point
specs, with the control arm's points (CONTRACT §15)."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from suite.blocks import CONTROL_ARM, VARIANT_FIELDS, block_key, group_blocks, variant
from suite.errors import UsageError
from suite.spec import PointSpec
from suite.topology import Topology, has_hyperthreading

SEED_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Fresh worker processes per point. One process is one draw of process-level noise, so its
# CI cannot say where a rerun lands; three is the fewest whose t-interval (t = 4.3 at 2
# degrees of freedom) says something, and --min-time/--max-time are shared among them, so
# the default costs two extra warm-ups per point, not three times the timed time.
DEFAULT_PROCESSES = 3
# A point whose CIs across its --processes are still wider than --precision gets more fresh
# processes, up to --processes + EXTRA_PROCESSES, while the processes its spread needs
# fit within that (suite.stats.processes_for_precision): 8 processes reach ±2% up to a 2.3%
# spread between processes (t(7)/√8 = 0.84), 3 only at 0.8%; a point whose processes
# disagree by more stops at --processes instead of spending processes in vain.
EXTRA_PROCESSES = 5
# --control some: this share of the blocks (rounded up, at least one) gets a control arm.
CONTROL_SHARE = 0.25
CONTROL_MODES = ("some", "all", "none")
DEFAULT_MIN_EFFECT = 0.02   # --min-effect 2 (%): a lead is claimed only at this effect
TRAIN_BATCHES = (10, 20, 30, 40)
# Budget by steps as well as seconds (suite.measure): a point keeps going past --max-time
# until it has DEFAULT_MIN_STEPS timed steps (shared by its processes), but never beyond
# TIME_CAP_FACTOR x --max-time.
DEFAULT_MIN_STEPS = 60
TIME_CAP_FACTOR = 3.0

# Host threads of a --device cuda point: one setting, not a sweep (the GPU does the work).
# The host still wants a few cores: the Python thread that launches kernels, autograd's
# device thread in training, the CUDA driver's threads, and torch.compile's compile
# workers (in the warm-up, which is never timed); intra-op threads matter only for the
# little the CPU computes. More than 8 buys nothing a GPU step waits for, and on big hosts
# spreads the worker over more cores (and NUMA nodes) than it can use; each data-parallel
# rank of a node gets its share of the cores. --threads still overrides.
GPU_HOST_THREADS = 8


def gpu_host_threads(topo: Topology, ranks: int = 1) -> int:
    """The default host threads of a --device cuda point (see GPU_HOST_THREADS)."""
    return max(1, min(GPU_HOST_THREADS, topo.physical_cores // max(1, ranks)))


@dataclass
class SweepConfig:
    """The exact resolved configuration (stored in run.json)."""

    task: str
    frameworks: list[str]
    models: list[str]
    batches: list[int]
    optimizations: dict[str, list[str]]     # framework -> the optimizations it runs
    threads: list[int]
    device: str = "cpu"
    dtypes: list[str] = field(default_factory=lambda: ["float32"])   # --dtype, a comma list
    input_size: int | None = None
    seq_len: int | None = None
    interop_threads: int = 1
    mapping: str = "sequential"
    ht: str = "off"
    memory: str = "local"
    samples: int = 8000
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    precision: float = 0.02
    min_time: float = 1.0
    max_time: float = 10.0
    min_steps: int = 0          # timed steps that win over max_time / samples ...
    time_cap: float | None = None   # ... up to this many timed seconds (None: max_time)
    timeout: float = 600.0
    memory_limit_mib: float | None = None
    oom_skip: bool = True
    worker_per_point: bool = False
    processes: int = 1          # fresh worker processes per point (--processes)
    max_processes: int = 1      # ... up to this many for points still imprecise
    seed: int = 0               # weights, inputs, the rounds' order, the control blocks
    schedule: str = "sequential"   # interleaved | sequential (suite.schedule)
    control: str = "none"       # some | all | none: blocks given a control arm
    reference: dict[str, str] = field(default_factory=dict)   # {"framework", "optimization"}:
    #   the block reference of the paired ratios (--reference, resolved)
    min_effect: float = DEFAULT_MIN_EFFECT   # smallest ratio effect claimed as a lead
    resolve: float = 0.0        # --resolve: extra rounds until the ratios resolve this
    #   effect (a fraction; 0: off; suite.resolve)
    control_blocks: list[dict[str, Any]] = field(default_factory=list)   # the blocks that got
    #   a control arm: each one's fields (every PointSpec field but the variant's)
    nproc_per_node: list[int] = field(default_factory=lambda: [1])   # data-parallel ranks
    nnodes: int = 1
    launcher: str = "local"     # local | slurm (suite.launchers)
    slurm: dict[str, Any] = field(default_factory=dict)   # the --slurm-* options
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The configuration for run.json; also "dtype", the dtypes as one comma-joined
        string, which readers from before `dtypes` expect."""
        return dict(dataclasses.asdict(self), dtype=",".join(self.dtypes))


def config_dtypes(config: dict[str, Any]) -> list[str]:
    """A stored configuration's dtypes: its "dtypes", or the single "dtype" string that
    older run.json files have (both default to float32)."""
    dtypes = config.get("dtypes")
    if isinstance(dtypes, list) and dtypes:
        return [str(d) for d in dtypes]
    return [d for d in str(config.get("dtype") or "float32").split(",") if d]


def _variants(choice: str) -> list[bool]:
    return {"off": [False], "on": [True], "both": [False, True]}[choice]


def expand(cfg: SweepConfig, sizes: dict[str, int]) -> list[PointSpec]:
    """All points of a sweep, ordered so each variant's batch sizes run smallest first,
    each control arm's point right after its reference (`add_control_arms`).

    `sizes` maps each model to its resolved input size (image side or sequence length).
    """
    specs = _base_points(cfg, sizes)
    if not cfg.reference:
        return specs
    reference = (cfg.reference["framework"], cfg.reference["optimization"])
    return add_control_arms(specs, reference, cfg.control, cfg.seed)


def _base_points(cfg: SweepConfig, sizes: dict[str, int]) -> list[PointSpec]:
    memories = ["local", "remote"] if cfg.memory == "both" else [cfg.memory]
    specs = []
    for fw in cfg.frameworks:
        for model, opt, dtype, ht, mem, threads, nproc, bs in itertools.product(
                cfg.models, cfg.optimizations[fw], cfg.dtypes, _variants(cfg.ht), memories,
                cfg.threads, cfg.nproc_per_node, cfg.batches):
            specs.append(PointSpec(task=cfg.task, framework=fw, optimization=opt, model=model,
                                   batch_size=bs, input_size=sizes[model], device=cfg.device,
                                   dtype=dtype, threads=threads,
                                   interop_threads=cfg.interop_threads, mapping=cfg.mapping,
                                   ht=ht, memory=mem, nproc_per_node=nproc,
                                   nnodes=cfg.nnodes))
    return specs


def placement_skip(spec: PointSpec, topo: Topology) -> str | None:
    """Why a variant of `--ht both` / `--memory both` cannot exist on this machine."""
    if spec.memory == "remote" and len(topo.nodes) < 2:
        return "remote memory needs a second NUMA node; this machine has one"
    if spec.ht and not has_hyperthreading(topo):
        return "hyper-threading is not available on this machine (no sibling threads)"
    return None


def check_placement(topo: Topology, ht: str, memory: str) -> None:
    """UsageError where --ht on / --memory remote cannot exist on this machine."""
    if memory == "remote" and len(topo.nodes) < 2:
        raise UsageError("--memory remote needs a second NUMA node; this machine has one "
                         "(valid here: local; 'both' records remote as skipped)")
    if ht == "on" and not has_hyperthreading(topo):
        raise UsageError("--ht on: this machine has no hyper-thread siblings "
                         "(valid here: off; 'both' records on as skipped)")


def max_processes(given: int | None, processes: int) -> int:
    """--max-processes, by default --processes + EXTRA_PROCESSES (with at least two: one
    process has no spread between processes to narrow)."""
    from suite.options import check_positive
    if given is None:
        return processes + EXTRA_PROCESSES if processes >= 2 else processes
    most = int(check_positive(given, "--max-processes", 101))
    if most < processes:
        raise UsageError(f"--max-processes {most} is below --processes {processes}")
    return most


def default_memory_limit_mib() -> float | None:
    """90% of physical RAM, so a runaway worker is stopped before the machine swaps."""
    try:
        return 0.9 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (ValueError, OSError):
        return None


def loop_settings(cfg: SweepConfig) -> dict[str, Any]:
    """Settings sent to workers with every point.

    --min-time, --max-time, --samples, --min-steps and --time-cap are per point: with
    --processes N each process gets an N-th of them (so N processes cost N warm-ups, not
    N times the timed time; a process beyond N, for a point still imprecise, gets as much).
    The warm-up budget is per process: every process must warm up fully. Training asks for
    at least TRAIN_WARMUP_STEPS warm-up steps (allocator, optimizer state, oneDNN/XLA caches).
    """
    from suite.measure import TRAIN_WARMUP_STEPS
    n = max(1, cfg.processes)
    loop: dict[str, Any] = {
        "precision": cfg.precision, "min_time_s": cfg.min_time / n,
        "max_time_s": cfg.max_time / n, "min_steps": -(-cfg.min_steps // n),
        "cap_time_s": (cfg.time_cap or cfg.max_time) / n,
        "warmup_max_s": max(cfg.min_time, min(10.0, cfg.max_time))}
    if cfg.task == "train":
        loop["max_items"] = -(-cfg.samples // n)
        loop["warmup_min_iterations"] = TRAIN_WARMUP_STEPS
    return {"loop": loop, "lr": cfg.lr, "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay, "seed": cfg.seed}


def control_block_keys(specs: Sequence[PointSpec], reference: tuple[str, str], mode: str,
                       seed: int) -> list[str]:
    """The blocks (`suite.blocks.block_key`) that get a control arm, in first-seen order.

    Only blocks that hold the reference variant and at least one other variant can have
    one: a block of a single variant has no ratio whose false positives a control could
    count. Of those, "all" takes every one, "some" a random quarter (rounded up, at least
    one; ranked by a hash of the seed and the block, so a sweep given more blocks keeps
    most of its choice), "none" none.
    """
    eligible = [key for key, block in group_blocks(specs).items()
                if any(variant(s) == (*reference, "") for s in block)
                and len({variant(s) for s in block}) >= 2]
    if mode == "none" or not eligible:
        return []
    if mode == "all":
        return eligible
    count = max(1, math.ceil(len(eligible) * CONTROL_SHARE))
    ranked = sorted(eligible, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest())
    chosen = set(ranked[:count])
    return [key for key in eligible if key in chosen]


def add_control_arms(specs: list[PointSpec], reference: tuple[str, str], mode: str,
                     seed: int) -> list[PointSpec]:
    """`specs` with a blind second copy of the reference variant (`arm` "control") right
    after the reference point of each block `control_block_keys` chooses."""
    chosen = set(control_block_keys(specs, reference, mode, seed))
    out = []
    for spec in specs:
        out.append(spec)
        if variant(spec) == (*reference, "") and block_key(spec) in chosen:
            out.append(dataclasses.replace(spec, arm=CONTROL_ARM))
    return out


def control_blocks(specs: Sequence[PointSpec]) -> list[dict[str, Any]]:
    """The fields of each block that has a control arm in `specs` (for run.json)."""
    return [{k: v for k, v in s.to_dict().items() if k not in VARIANT_FIELDS}
            for s in specs if s.arm == CONTROL_ARM]


@dataclass(frozen=True)
class RoundOptions:
    """The validated --schedule, --control, --reference, --min-effect and --resolve."""

    schedule: str
    control: str
    reference: dict[str, str]
    min_effect: float
    resolve: float = 0.0


def resolve_round_options(schedule: str | None, control: str | None, no_control: bool,
                          reference: str | None, min_effect_pct: float, processes: int,
                          launcher: str, frameworks: Sequence[str],
                          optimizations: dict[str, list[str]],
                          aliases: dict[str, str] | None = None,
                          worker_per_point: bool = True,
                          resolve_pct: float | None = None) -> RoundOptions:
    """Check the round options against the sweep (UsageError naming the valid values) and
    fill their defaults: interleaved rounds (unless points share workers or run on
    Slurm) and some control arms with --processes >= 2; the reference is the first
    framework in its first optimization."""
    from suite.blocks import parse_reference, reference_variant
    from suite.options import check_range, parse_choice
    from suite.schedule import SCHEDULES
    several = processes >= 2
    if schedule is None:
        schedule = "interleaved" if several and launcher == "local" and worker_per_point \
            else "sequential"
    schedule = parse_choice(schedule, "--schedule", SCHEDULES)
    if schedule == "interleaved" and launcher != "local":
        raise UsageError(f"--schedule interleaved: not with --launcher {launcher}, whose "
                         f"jobs run a point's processes back to back (valid: sequential)")
    if schedule == "interleaved" and not worker_per_point:
        raise UsageError("--schedule interleaved: not with --no-worker-per-point (a round "
                         "starts a fresh worker for every point; valid: sequential)")
    if no_control and control not in (None, "none"):
        raise UsageError(f"--no-control and --control {control}: give one of them")
    control = "none" if no_control else parse_choice(
        control or ("some" if several else "none"), "--control", CONTROL_MODES)
    chosen = parse_reference(reference)
    if reference is not None and chosen is None:
        raise UsageError(f"--reference: empty; valid: {', '.join(frameworks)}")
    if chosen:
        framework = (aliases or {}).get(chosen[0].lower(), chosen[0].lower())
        if framework not in frameworks:
            raise UsageError(f"--reference {reference}: {chosen[0]!r} is not a framework of "
                             f"this sweep; valid: {', '.join(frameworks)}")
        if chosen[1] is not None and chosen[1] not in optimizations[framework]:
            raise UsageError(f"--reference {reference}: {framework} runs no {chosen[1]!r} in "
                             f"this sweep; valid: {', '.join(optimizations[framework])}")
        chosen = (framework, chosen[1])
    framework, optimization = reference_variant(frameworks, optimizations, chosen)
    resolve = 0.0
    if resolve_pct is not None:
        resolve = check_range(resolve_pct, "--resolve", 0.0, 100.0) / 100.0
        if resolve and schedule != "interleaved":
            raise UsageError("--resolve: needs interleaved rounds (--processes 2 or more, "
                             "--schedule interleaved); valid with this sweep: leave it out")
    return RoundOptions(schedule, control, {"framework": framework, "optimization": optimization},
                        check_range(min_effect_pct, "--min-effect", 0.0, 100.0) / 100.0,
                        resolve)


def unsupported_reason(spec: PointSpec, topo: Topology) -> str | None:
    """Why a point cannot exist (recorded as skipped), from the adapter and the machine;
    here, not in the CLI, since a Slurm job asks it on the node where it runs."""
    return placement_skip(spec, topo) or declared_unsupported_reason(spec)


def declared_unsupported_reason(spec: PointSpec) -> str | None:
    """Why a point cannot exist on any machine (the adapters' declarations, training of
    a model that is no classifier): what a Slurm sweep can know before its jobs run."""
    import frameworks
    from suite import dataparallel
    from suite.models import zoo
    try:
        adapter = frameworks.get_adapter(spec.framework)
    except ImportError as e:  # a broken or missing adapter module: skip, never a traceback
        return f"{spec.framework} adapter cannot be loaded: {e}"
    if (why := adapter.unsupported(spec.task, spec.optimization, spec.device, spec.dtype)):
        return why
    if (why := dataparallel.unsupported(spec)):
        return why
    if spec.task == "train" and not zoo.is_image_model(spec.model):
        return f"training is defined for image classifiers only ({spec.model} is not one)"
    return None
