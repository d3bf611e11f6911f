"""Measures point specs in isolated worker processes and stores each measurement.

A worker serves the points of one framework and placement (or a single point, the
default for training so that each point's memory peak is clean). A crash, a timeout or
a worker over its memory limit ends that worker only: the point is stored as error /
timeout / oom and the sweep goes on with a fresh worker. The order points and their
processes run in is `suite.schedule`'s: the runner measures a pass of points through one
worker (`run_pass`) or one point in one fresh worker (`measure_alone`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from suite import storage
from suite.levers import worker_launch
from suite.oomkill import oom_kill_count
from suite.schedule import SequentialPasses
from suite.spec import Measurement, PointSpec
from suite.dataparallel import worker_module
from suite.topology import Topology, memory_node, rank_core_lists, spare_cpus

MIB = 1 << 20
POLL_S = 0.1          # how often a waiting runner checks the worker's memory


class Reporter(Protocol):
    def start(self, total: int, resumed: int) -> None: ...
    def point_started(self, spec: PointSpec) -> None: ...
    def point_finished(self, m: Measurement) -> None: ...
    def finish(self, measurements: list[Measurement], run_dir: Path) -> None: ...


@dataclass
class RunOptions:
    """How points are run (not what is measured: that is the PointSpec)."""

    settings: dict[str, Any]              # sent to the worker with each point
    timeout_s: float = 600.0
    memory_limit_mib: float | None = None
    oom_skip: bool = True
    worker_per_point: bool = False
    env: dict[str, str] = field(default_factory=dict)
    processes: int = 1                    # --processes: fresh workers per point
    point_meta: dict[str, Any] = field(default_factory=dict)   # added to every point's
    #   meta by the launcher: the host's fingerprint, a Slurm job id
    max_processes: int = 0                # --max-processes: more for imprecise points
    schedule: str = "sequential"          # --schedule: which order the local launcher uses
    reference: tuple[str, str] | None = None   # the blocks' reference variant (ratios)
    resolve: float = 0.0                  # --resolve: rounds for the ratios (suite.resolve)


class WorkerFailure(Exception):
    """The worker died, hung or outgrew its memory limit: `status` says which."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Worker:
    """A `python -m suite.worker` child and its JSON-lines channel."""

    def __init__(self, init: dict[str, Any], log_path: Path, opts: RunOptions,
                 module: str = "suite.worker") -> None:
        self._log = open(log_path, "ab")
        lever_env, preexec = worker_launch()   # the process-level levers on (suite.levers)
        env = dict(os.environ, **lever_env, **opts.env)
        self._oom_kills = oom_kill_count()   # to tell the kernel's OOM killer from kill -9
        # Its own process group: killing the group leaves no orphan (e.g. a compile-worker
        # pool), and a terminal's Ctrl-C reaches only the runner, which stops the worker.
        self.proc = subprocess.Popen([sys.executable, "-m", module],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, start_new_session=True,
                                     preexec_fn=preexec)
        self._opts = opts
        self._buf = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.send(init)

    def send(self, msg: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the death is noticed by receive()

    def receive(self, timeout_s: float) -> dict[str, Any]:
        """The next message, waiting (without spinning) at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailure("timeout", f"no result within --timeout {timeout_s:g} s")
            self._check_memory()
            if self._sel.select(min(left, POLL_S)):
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise self._death()
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _check_memory(self) -> None:
        limit = self._opts.memory_limit_mib
        if not limit:
            return
        rss = rss_mib(self.proc.pid)
        if rss is not None and rss > limit:
            raise WorkerFailure("oom", f"host memory limit exceeded: worker RSS "
                                       f"{rss:.0f} MiB > --memory-limit {limit:g} MiB")

    def _death(self) -> WorkerFailure:
        return death_failure(self.proc.wait(), self._oom_kills, oom_kill_count())

    def close(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                self._kill_group()
            else:
                self.send({"stop": True})
                try:
                    self.proc.stdin.close()
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self._kill_group()
            self.proc.wait()
        self._kill_group()   # anything the worker started and left behind
        self._sel.close()
        self.proc.stdout.close()
        self._log.close()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass   # the group is gone already


def death_failure(code: int, oom_kills_before: int | None,
                  oom_kills_after: int | None) -> WorkerFailure:
    """How a worker that died with `code` is reported: "oom" only when the kernel's OOM
    killer's count rose meanwhile; a SIGKILL otherwise (a user's kill -9) is an error."""
    if code >= 0:
        return WorkerFailure("error", f"worker crashed (exit code {code}); see workers.log")
    signum = -code
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    counted = oom_kills_before is not None and oom_kills_after is not None
    if signum == signal.SIGKILL and counted and oom_kills_after > oom_kills_before:
        return WorkerFailure("oom", f"worker killed by the kernel's out-of-memory killer "
                                    f"(SIGKILL; the memory cgroup's oom_kill count rose "
                                    f"from {oom_kills_before} to {oom_kills_after})")
    cause = ""
    if signum == signal.SIGKILL:
        cause = ("; not by the kernel's out-of-memory killer" if counted else
                 "; whether by the kernel's out-of-memory killer is unknown here (no "
                 "readable cgroup oom_kill counter)")
    return WorkerFailure("error", f"worker crashed: killed by signal {signum} ({name})"
                                  f"{cause}; see workers.log")


def rss_mib(pid: int) -> float | None:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def worker_is_spent(m: Measurement) -> bool:
    """Whether the worker that measured `m` must not measure another point: it failed,
    ran out of memory, or hit an error on a GPU, where a CUDA error can poison the
    context (after an illegal address every later call fails: seen on an H200)."""
    return bool(m.meta.get("worker_failed")) or m.status == "oom" or \
        (m.status == "error" and m.spec.device != "cpu")


def unavailable_reason(spec: PointSpec, ready: dict[str, Any]) -> str | None:
    """Why a worker's `ready` message means its framework cannot run here (None: it can),
    with the install command where the adapter gives one."""
    if ready["ok"]:
        return None
    install = f" (install: {ready['install']})" if ready.get("install") else ""
    return f"{spec.framework} unavailable: {ready['reason']}{install}"


def no_device_reason(spec: PointSpec, ready: dict[str, Any]) -> str:
    """Why a point's device is missing, from its worker's `ready` message: device
    availability is known only there, so the runner never imports a framework."""
    found = ", ".join(ready.get("devices") or []) or "none"
    why = ready.get("device_reason") or "its framework does not see one"
    return f"{spec.framework} has no {spec.device} device here: {why} (devices found: {found})"


def variant_key(spec: PointSpec) -> tuple:
    """Everything but the batch size (and the arm: a control copy is its reference
    variant): larger batches of an oom variant are not run."""
    return dataclasses.astuple(dataclasses.replace(spec, batch_size=0, arm=""))


class Runner:
    """Measures specs in worker processes and appends every measurement to the run folder
    (`run`: in the sequential schedule; `suite.schedule.InterleavedRounds` uses
    `measure_alone`)."""

    def __init__(self, run_dir: Path, topo: Topology, opts: RunOptions,
                 reporter: Reporter, unsupported: Callable[[PointSpec], str | None]) -> None:
        self.run_dir = run_dir
        self.topo = topo
        self.opts = opts
        self.reporter = reporter
        self.unsupported = unsupported
        self.measurements: list[Measurement] = []
        self._oom_at: dict[tuple, int] = {}
        self._unavailable: dict[str, str] = {}              # framework -> why not
        self._no_device: dict[tuple[str, str], str] = {}    # (framework, device) -> why not

    def run(self, specs: list[PointSpec], done_keys: Iterable[str] = ()) -> list[Measurement]:
        """Measure `specs` (but `done_keys`) in `--schedule sequential`'s order."""
        return SequentialPasses(self).run(specs, done_keys)

    def record(self, m: Measurement) -> None:
        """Store a point: its host's meta added, appended to points.jsonl, reported."""
        m.meta.update(self.opts.point_meta)
        storage.append_measurement(self.run_dir, m)
        self.measurements.append(m)
        self.note_oom(m)
        self.reporter.point_finished(m)

    def note_oom(self, m: Measurement) -> None:
        """Remember the smallest batch of a variant that ran out of memory."""
        if m.status == "oom":
            key = variant_key(m.spec)
            self._oom_at[key] = min(self._oom_at.get(key, m.spec.batch_size), m.spec.batch_size)

    def _precheck(self, spec: PointSpec, oom_rule: bool = True) -> Measurement | None:
        """A measurement for points that are not run at all (skipped, or oom by rule)."""
        reason = self.unsupported(spec) or self._unavailable.get(spec.framework) \
            or self._no_device.get((spec.framework, spec.device))
        if reason:
            return Measurement(spec, status="skipped", message=reason)
        smaller = self._oom_at.get(variant_key(spec))
        if oom_rule and self.opts.oom_skip and smaller is not None and \
                spec.batch_size > smaller:
            return Measurement(spec, status="oom", message=(
                f"not run: batch size {smaller} already ran out of memory "
                f"(use --no-oom-skip to try larger batches)"))
        return None

    def run_pass(self, group: list[PointSpec], record: Callable[[Measurement], None]) -> None:
        """Each point of the group through one worker (a fresh one after a failure)."""
        worker: Worker | None = None
        try:
            for spec in group:
                self.reporter.point_started(spec)
                pre = self._precheck(spec)
                if pre is None and worker is None:
                    opened = self._open(spec)
                    pre, worker = (opened, None) if isinstance(opened, Measurement) \
                        else (None, opened)
                if pre is not None:
                    record(pre)
                    continue
                m = self._measure(worker, spec)
                if worker_is_spent(m):
                    worker.close(kill=True)
                    worker = None
                record(m)
        finally:
            if worker is not None:
                worker.close(kill=sys.exc_info()[0] is not None)

    def measure_alone(self, spec: PointSpec, oom_rule: bool = True) -> Measurement:
        """One process of `spec` in a fresh worker, not stored (`suite.schedule` orders
        these); `oom_rule` False runs it even after a smaller batch of its variant's oom."""
        self.reporter.point_started(spec)
        opened = self._precheck(spec, oom_rule) or self._open(spec)
        if isinstance(opened, Measurement):
            m = opened
        else:
            m = None
            try:
                m = self._measure(opened, spec)
            finally:   # killed after a failure, or when Ctrl-C / SIGTERM stopped it
                opened.close(kill=m is None or worker_is_spent(m))
        m.meta.update(self.opts.point_meta)
        self.note_oom(m)
        return m

    def _open(self, spec: PointSpec) -> Worker | Measurement:
        """A fresh worker for `spec`, or the measurement that says why none runs it."""
        try:
            worker = self._start_worker(spec)
        except WorkerFailure as e:   # died, hung or too big while starting
            return Measurement(spec, status=e.status, message=e.message,
                               placement=self._placement(spec))
        if worker is None:           # framework or device unavailable: now known, skip
            return self._precheck(spec)
        return worker

    def _placement(self, spec: PointSpec) -> dict[str, Any]:
        """The point's cores (a data-parallel point's: every local rank's, disjoint lists
        in `rank_cores`), memory node and the memory sampler's CPUs."""
        threads = spec.threads or self.topo.physical_cores
        ranks = rank_core_lists(self.topo, threads, spec.nproc_per_node, spec.mapping, spec.ht)
        cores = [c for r in ranks for c in r]
        node = memory_node(self.topo, cores, spec.memory) if len(self.topo.nodes) > 1 \
            or spec.memory == "remote" else None
        placement = {"cores": cores, "memory_node": node,
                     "sampler_cpus": spare_cpus(self.topo, cores)}
        if spec.world_size > 1:
            placement["rank_cores"] = ranks
        return placement

    def _start_worker(self, spec: PointSpec) -> Worker | None:
        init = {"framework": spec.framework, "threads": spec.threads,
                "interop_threads": spec.interop_threads, "timeout_s": self.opts.timeout_s,
                **self._placement(spec)}
        worker = Worker(init, self.run_dir / "workers.log", self.opts, worker_module(spec))
        try:
            ready = worker.receive(self.opts.timeout_s)["ready"]
        except BaseException:   # a failure, or Ctrl-C / SIGTERM while it starts
            worker.close(kill=True)
            raise
        unavailable = unavailable_reason(spec, ready)
        if unavailable:
            worker.close()
            self._unavailable[spec.framework] = unavailable
            return None
        if spec.device not in ready["devices"]:
            worker.close()
            self._no_device[(spec.framework, spec.device)] = no_device_reason(spec, ready)
            return None
        return worker

    def _measure(self, worker: Worker, spec: PointSpec) -> Measurement:
        started = time.time()
        worker.send({"point": {"spec": spec.to_dict(), "settings": self.opts.settings}})
        try:
            m = Measurement.from_record(worker.receive(self.opts.timeout_s)["measurement"])
        except WorkerFailure as e:
            m = Measurement(spec, status=e.status, message=e.message,
                            placement=self._placement(spec))
            m.meta["worker_failed"] = True
        m.meta["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
        m.meta["wall_s"] = round(time.time() - started, 3)
        return m
