"""The frozen nouns: a point spec (what to measure) and a measurement (what was measured).

A measurement is stored as one JSON record per line in points.jsonl. Raw samples are the
truth; statistics are derived from them by `suite.stats` (a cached summary is stored too,
for readers without dlbench, but tables and comparisons recompute it).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "timeout", "skipped")


@dataclass(frozen=True, order=True)
class PointSpec:
    """Identity of one benchmark point: used to resume, group and compare."""

    task: str                 # train | infer | serve (serving points)
    framework: str            # registry name, e.g. pytorch
    optimization: str         # none | script | compile
    model: str                # zoo name, e.g. resnet50
    batch_size: int
    input_size: int           # image side in pixels, or sequence length for text models
    device: str = "cpu"       # cpu | cuda
    dtype: str = "float32"
    threads: int = 0          # intra-op threads; 0 = framework default
    interop_threads: int = 1
    mapping: str = "sequential"   # sequential | interleave
    ht: bool = False          # hyper-thread siblings used
    memory: str = "local"     # local | remote NUMA binding
    # serving (task "serve", suite.serving): batch_size is the largest batch, threads are
    # each instance's; the defaults leave train/infer points as they were
    instances: int = 1        # pinned worker instances, each on its own cores
    scenario: str = ""        # singlestream | server | offline | multistream
    target_qps: float = 0.0   # offered queries per second (server; offline: expected)
    batch_timeout_ms: float = 0.0   # how long a partial batch waits for more queries
    stage: str = ""           # "" (serve) | profile | verify (tune's phases)
    nproc_per_node: int = 1   # data-parallel training: ranks per node (1 = one process)
    nnodes: int = 1           #   and nodes; batch_size is per rank (items = batch x world)
    arm: str = ""             # "" | "control": the blind second copy of a block's reference
    #   variant (suite.blocks.CONTROL_ARM, CONTRACT §15), measured like any other point

    def __post_init__(self) -> None:
        if self.task != SERVE_TASK:
            carried = [f for f in SERVING_FIELDS if getattr(self, f) != SERVING_DEFAULTS[f]]
            if carried:
                raise ValueError(f"a {self.task} point has no serving fields ({', '.join(carried)})")

    def key(self) -> str:
        """A stable string identity (JSON of the fields it has, sorted)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        """The spec's fields; a train or infer point's leave out the serving ones, which it
        cannot have (a stored spec says only what it is)."""
        d = dataclasses.asdict(self)
        if self.task != SERVE_TASK:
            for name in SERVING_FIELDS:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PointSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        if d.get("task") != SERVE_TASK:   # a frame row has every column: not a point's own
            names -= set(SERVING_FIELDS)
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def world_size(self) -> int:
        """Ranks of a data-parallel point (1 for a single process)."""
        return self.nproc_per_node * self.nnodes

    def label(self) -> str:
        """Short human label for progress lines."""
        size = f"@{self.input_size}"
        return (f"{self.task} {self.framework}/{self.optimization} {self.model}{size} "
                f"bs={self.batch_size} thr={self.threads or 'def'} {self.device}"
                + (" ht" if self.ht else "") + (" remote" if self.memory == "remote" else "")
                + (f" {self.instances}x{self.threads} {self.scenario}"
                   + (f" qps={self.target_qps:g}" if self.target_qps else "")
                   + (f" {self.stage}" if self.stage else "") if self.task == "serve" else "")
                + (f" ddp {self.nnodes}x{self.nproc_per_node}" if self.world_size > 1 else "")
                + (f" [{self.arm}]" if self.arm else ""))


SERVE_TASK = "serve"
SERVING_FIELDS = ("instances", "scenario", "target_qps", "batch_timeout_ms", "stage")
SERVING_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PointSpec)
                    if f.name in SERVING_FIELDS}


@dataclass
class Measurement:
    """What a worker measured for one spec (or why it could not)."""

    spec: PointSpec
    status: str = "ok"
    message: str = ""
    samples_ns: list[int] = field(default_factory=list)        # host time per timed step
    #   (GPU steps timed in windows: the call alone, i.e. its launch; see window_ns)
    device_samples_ns: list[int] | None = None                 # CUDA-event time per step
    samples_per_process: list[int] | None = None               # --processes N: the first k
    #   samples came from process 1, the next from process 2, ... (None: one process)
    window_ns: list[int] | None = None                         # GPU: wall time of each window
    window_steps: list[int] | None = None                      #   of steps (one sync each) and
    #   its step count; they cover the samples in order. Throughput = Σ items / Σ window_ns.
    cold_start_ns: int | None = None                           # first step ever
    warmup_iterations: int = 0
    precision_reached: bool = False
    items_per_step: int = 0                                    # = batch size
    flops_per_item: float | None = None                        # FLOPs = 2 x MACs, forward (x3 train)
    memory: dict[str, float] = field(default_factory=dict)     # *_mib figures
    placement: dict[str, Any] = field(default_factory=dict)    # cores, memory node, ...
    meta: dict[str, Any] = field(default_factory=dict)         # versions, timings, worker pid
    summary: dict[str, Any] = field(default_factory=dict)      # derived; cached for readers
    rank_samples_ns: list[list[int]] | None = None             # data-parallel: each rank's own
    #   timed step times (samples_ns are the slowest rank's; see suite.dataparallel)
    energy: dict[str, Any] | None = None                       # suite.energy's record: joules
    #   and watts over the timed loop, or why not (method "unavailable"); None: not measured
    profile: dict[str, Any] | None = None                      # --profile: the record of a
    #   separate profiled process (suite.profiling.breakdown), never a timing figure

    def to_record(self) -> dict[str, Any]:
        rec = dataclasses.asdict(self)
        rec["spec"] = self.spec.to_dict()
        if rec["profile"] is None:   # stored only where a point was profiled
            del rec["profile"]
        rec["schema"] = SCHEMA_VERSION
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Measurement":
        version = rec.get("schema", 1)
        if version > SCHEMA_VERSION:
            from suite.errors import UsageError
            raise UsageError(f"result schema {version} is newer than this dlbench "
                             f"understands ({SCHEMA_VERSION}); upgrade dlbench")
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in rec.items() if k in names}
        data["spec"] = PointSpec.from_dict(rec["spec"])
        return cls(**data)


def combine_processes(parts: list[Measurement]) -> Measurement:
    """One point measured in several fresh worker processes (`--processes N`), as one
    measurement: the samples of every process in order, `samples_per_process` saying which
    came from which, memory figures the largest of any process, and each process's own
    record (pid, cold start, warm-up, stop reason, memory) in `meta["processes"]`.

    A failed part makes the point fail: the first failure is returned, its message naming
    the process. The statistics (and so the precision flag) are derived later from all
    samples by `suite.stats.point_summary`.
    """
    if not parts:
        raise ValueError("no measurements to combine")
    for index, part in enumerate(parts, 1):
        if part.status != "ok":
            if index == 1:
                return part
            return dataclasses.replace(part, message=f"process {index}: {part.message}")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    memory: dict[str, float] = {}
    for part in parts:
        for key, value in part.memory.items():
            memory[key] = max(memory.get(key, value), value)
    device = [v for p in parts for v in (p.device_samples_ns or [])]
    windowed = all(p.window_ns and p.window_steps for p in parts)
    # data-parallel: each rank's samples over the processes, in order
    rank_samples = [[v for p in parts for v in p.rank_samples_ns[r]]  # type: ignore[index]
                    for r in range(len(first.rank_samples_ns or []))] \
        if all(p.rank_samples_ns for p in parts) else None
    return dataclasses.replace(
        first, samples_ns=[v for p in parts for v in p.samples_ns],
        device_samples_ns=device if all(p.device_samples_ns for p in parts) else None,
        samples_per_process=[len(p.samples_ns) for p in parts],
        window_ns=[v for p in parts for v in p.window_ns or []] if windowed else None,
        window_steps=[v for p in parts for v in p.window_steps or []] if windowed else None,
        warmup_iterations=first.warmup_iterations, memory=memory, summary={},
        rank_samples_ns=rank_samples, energy=_combined_energy(parts),
        meta=dict(first.meta, processes=[_process_record(p) for p in parts],
                  wall_s=sum(float(p.meta.get("wall_s", 0.0)) for p in parts),
                  setup_s=sum(float(p.meta.get("setup_s", 0.0)) for p in parts)))


def _combined_energy(parts: list[Measurement]) -> dict[str, Any] | None:
    """The processes' energy records as one (suite.energy, imported only when needed)."""
    if not any(p.energy for p in parts):
        return None
    from suite.energy import combine_energy
    return combine_energy([p.energy for p in parts])


def _process_record(m: Measurement) -> dict[str, Any]:
    """What one process of a combined point keeps besides its samples."""
    keep = ("worker_pid", "stop_reason", "warmup_steady", "build_s", "wall_s", "started_at",
            "round", "setup_s", "setup")
    return {"iterations": len(m.samples_ns), "cold_start_ns": m.cold_start_ns,
            "warmup_iterations": m.warmup_iterations,
            "precision_reached": m.precision_reached, "memory": dict(m.memory),
            **{k: m.meta[k] for k in keep if k in m.meta}}
