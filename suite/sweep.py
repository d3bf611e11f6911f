"""A sweep: the validated configuration of a train or infer command, expanded to point specs."""
from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass, field
from typing import Any

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
    seed: int = 0
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
    """All points of a sweep, ordered so each variant's batch sizes run smallest first.

    `sizes` maps each model to its resolved input size (image side or sequence length).
    """
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
