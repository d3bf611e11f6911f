"""`serve`: the resolved configuration and the run - for each configuration (instances x
threads), one pool, one LoadGen test per offered QPS (or a peak search), every test a
point appended to the run folder as it finishes.

A resumed run (`--resume`) hands the finished points to the `Recorder`, which answers
their tests from the run folder instead of measuring them: a pool is started only for a
configuration with a test left, and a peak search replays its stored probes (its
next rate follows from them) before it measures the first missing one."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from suite import storage
from suite.runner import RunOptions
from suite import stats
from suite.serving.figures import bound_check, serving_figures
from suite.serving.loadgen import LoadSettings
from suite.serving.peak import find_peak
from suite.serving.session import Session
from suite.spec import Measurement, PointSpec
from suite.topology import Topology

Log = Callable[[str], None]


@dataclass
class ServeConfig:
    """The exact resolved configuration of `serve` (stored in run.json)."""

    framework: str
    optimization: str
    model: str
    input_size: int
    scenario: str                       # singlestream | server | offline | multistream
    configs: list[tuple[int, int]]      # (instances, threads per instance)
    qps: list[float]                    # offered rates (server), expected (offline)
    max_batch: int = 4
    batch_timeout_ms: float = 1.0
    p99_ms: float = 100.0               # server's latency bound (LoadGen's constraint)
    duration_s: float = 5.0             # LoadGen's min_duration per test
    min_queries: int = 64               # LoadGen's min_query_count per test
    find_peak: bool = False
    peak_steps: int = 6
    device: str = "cpu"
    dtype: str = "float32"
    ht: bool = False
    straddle_numa: bool = False
    timeout: float = 120.0              # per batch and per instance start
    memory_limit_mib: float | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec(self, instances: int, threads: int, qps: float = 0.0, stage: str = "",
             scenario: str | None = None, batch: int | None = None) -> PointSpec:
        scenario = scenario or self.scenario
        return PointSpec(task="serve", framework=self.framework, optimization=self.optimization,
                         model=self.model, batch_size=batch or self.max_batch,
                         input_size=self.input_size, device=self.device, dtype=self.dtype,
                         threads=threads, ht=self.ht, instances=instances, scenario=scenario,
                         target_qps=float(qps) if scenario in ("server", "offline") else 0.0,
                         batch_timeout_ms=self.batch_timeout_ms if scenario == "server" else 0.0,
                         stage=stage)

    def load(self, scenario: str, qps: float, samples_per_query: int = 1) -> LoadSettings:
        return LoadSettings(scenario=scenario, target_qps=qps, p99_ms=self.p99_ms,
                            duration_s=self.duration_s, min_queries=self.min_queries,
                            samples_per_query=samples_per_query, seed=self.seed)

    def run_options(self) -> RunOptions:
        return RunOptions(settings={}, timeout_s=self.timeout,
                          memory_limit_mib=self.memory_limit_mib)

    def worker_settings(self) -> dict[str, Any]:
        """What each instance's build needs (the infer sweep's keys)."""
        from suite.models.imported import model_files_setting
        return {"seed": self.seed, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
                "model_files": model_files_setting()}   # --model-file: imported again there


def describe(m: Measurement) -> str:
    """One progress line for a serving point: the harness's percentiles (p99 and p99.9
    with their 95% CI), LoadGen's, the rate, LoadGen's verdict, and for a Server test
    whether its p99 bound held."""
    s = m.spec
    head = f"{s.model} {s.instances}x{s.threads} {s.scenario}" + \
        (f" @{s.target_qps:g} qps" if s.target_qps else "") + (f" [{s.stage}]" if s.stage else "")
    if m.status != "ok":
        return f"{head}: {m.status}: {m.message}"
    f = serving_figures(m)
    ours = " ".join(f"{name} {stats.ci_text(f[k], f[k + '_low'], f[k + '_high'])}"
                    for name, k in (("p99", "p99_ms"), ("p99.9", "p99_9_ms")))
    theirs = f"LoadGen's p50 {f['loadgen_p50_ms']:.2f} p99 {f['loadgen_p99_ms']:.2f} ms; " \
        if math.isfinite(f["loadgen_p99_ms"]) else ""
    line = (f"{head}: p50 {f['p50_ms']:.2f} p90 {f['p90_ms']:.2f} {ours} ms; {theirs}"
            f"{f['achieved_qps']:.1f} qps, {'VALID' if f['valid'] else 'INVALID'}")
    bound = (m.meta.get("load") or {}).get("p99_ms")
    if s.scenario == "server" and bound is not None:
        held, why = bound_check(m, float(bound))
        line += f"; p99 bound {bound:g} ms " + ("held" if held else f"not held: {why}")
    return line


class Recorder:
    """Appends each point to the run folder and tells the console; with `done` (the
    finished points of a resumed run, by spec key) a stored test is answered from the
    folder instead of being measured again. `point_meta` is added to every new point
    (the host it ran on)."""

    def __init__(self, run_dir: Path, log: Log, done: dict[str, Measurement] | None = None,
                 point_meta: dict[str, Any] | None = None) -> None:
        self.run_dir, self.log = run_dir, log
        self.done = dict(done or {})
        self.point_meta = dict(point_meta or {})
        self.points: list[Measurement] = []
        self.replayed = 0

    def __call__(self, m: Measurement) -> Measurement:
        m.meta.update(self.point_meta)
        storage.append_measurement(self.run_dir, m)
        self.points.append(m)
        self.log(describe(m))
        return m

    def measure(self, s: "Session", spec: PointSpec, load: LoadSettings,
                meta: dict[str, Any] | None = None) -> Measurement:
        """The test of `spec` on session `s`: stored (resumed run) or measured now."""
        stored = self.done.get(spec.key())
        if stored is not None:
            self.points.append(stored)
            self.replayed += 1
            self.log(describe(stored) + " (stored)")
            return stored
        m = s.measure(spec, load)
        m.meta.update(meta or {})
        return self(m)


def session(cfg: ServeConfig, spec: PointSpec, topo: Topology, run_dir: Path) -> Session:
    return Session(spec, cfg.worker_settings(), topo, run_dir, cfg.run_options(),
                   cfg.straddle_numa)


def run_serve(cfg: ServeConfig, topo: Topology, run_dir: Path, log: Log,
              done: dict[str, Measurement] | None = None,
              point_meta: dict[str, Any] | None = None) -> list[Measurement]:
    """Every configuration at every offered rate (or its peak search); `done`: the
    finished points of a resumed run, not measured again."""
    record = Recorder(run_dir, log, done, point_meta)
    for instances, threads in cfg.configs:
        base = cfg.spec(instances, threads)
        s = session(cfg, base, topo, run_dir)
        try:
            if cfg.find_peak:
                def probe(qps: float) -> Measurement:
                    spec = cfg.spec(instances, threads, qps, scenario="server")
                    return record.measure(s, spec, cfg.load("server", qps))
                peak = find_peak(probe, cfg.qps[0], cfg.p99_ms, cfg.peak_steps)
                log(f"peak of {instances}x{threads}: {peak.peak_qps:g} qps with p99 <= "
                    f"{cfg.p99_ms:g} ms" if peak.peak_qps else
                    f"{instances}x{threads}: no probed rate kept p99 <= {cfg.p99_ms:g} ms")
                continue
            for qps in (cfg.qps if cfg.scenario in ("server", "offline") else [0.0]):
                record.measure(s, cfg.spec(instances, threads, qps),
                               cfg.load(cfg.scenario, qps, cfg.max_batch))
        finally:
            s.close()
    return record.points
