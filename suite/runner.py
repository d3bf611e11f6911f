"""Runs a list of point specs in isolated worker processes and stores each measurement.

A worker serves the points of one framework and placement (or a single point, the
default for training so that each point's memory peak is clean). A crash, a timeout or
a worker over its memory limit ends that worker only: the point is stored as error /
timeout / oom and the sweep goes on with a fresh worker.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from suite import stats, storage
from suite.oomkill import oom_kill_count
from suite.spec import Measurement, PointSpec, combine_processes
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
        env = dict(os.environ, **opts.env)
        self._oom_kills = oom_kill_count()   # to tell the kernel's OOM killer from kill -9
        # Its own process group: killing the group leaves no orphan (e.g. a compile-worker
        # pool), and a terminal's Ctrl-C reaches only the runner, which stops the worker.
        self.proc = subprocess.Popen([sys.executable, "-m", module],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, start_new_session=True)
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


def no_device_reason(spec: PointSpec, ready: dict[str, Any]) -> str:
    """Why a point's device is missing, from its worker's `ready` message: device
    availability is known only there, so the runner never imports a framework."""
    found = ", ".join(ready.get("devices") or []) or "none"
    why = ready.get("device_reason") or "its framework does not see one"
    return f"{spec.framework} has no {spec.device} device here: {why} (devices found: {found})"


def worker_key(spec: PointSpec) -> tuple:
    """Points sharing this key can share a worker (same framework, threads and placement)."""
    return (spec.framework, spec.device, spec.threads, spec.interop_threads,
            spec.mapping, spec.ht, spec.memory, spec.nproc_per_node, spec.nnodes)


def variant_key(spec: PointSpec) -> tuple:
    """Everything but the batch size: larger batches of an oom variant are not run."""
    return dataclasses.astuple(dataclasses.replace(spec, batch_size=0))


class Runner:
    """Executes specs group by group and appends every measurement to the run folder."""

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
        done = set(done_keys)
        todo = [s for s in specs if s.key() not in done]
        self.reporter.start(len(specs), len(specs) - len(todo))
        for group in self._groups(todo):
            self._run_group(group)
        self.reporter.finish(self.measurements, self.run_dir)
        return self.measurements

    def _groups(self, specs: list[PointSpec]) -> list[list[PointSpec]]:
        if self.opts.worker_per_point:
            return [[s] for s in specs]
        groups: dict[tuple, list[PointSpec]] = {}
        for s in specs:
            groups.setdefault(worker_key(s), []).append(s)
        return list(groups.values())

    def _record(self, m: Measurement) -> None:
        m.meta.update(self.opts.point_meta)
        storage.append_measurement(self.run_dir, m)
        self.measurements.append(m)
        self._note_oom(m)
        self.reporter.point_finished(m)

    def _note_oom(self, m: Measurement) -> None:
        """Remember the smallest batch of a variant that ran out of memory."""
        if m.status == "oom":
            key = variant_key(m.spec)
            self._oom_at[key] = min(self._oom_at.get(key, m.spec.batch_size), m.spec.batch_size)

    def _precheck(self, spec: PointSpec) -> Measurement | None:
        """A measurement for points that are not run at all (skipped, or oom by rule)."""
        reason = self.unsupported(spec) or self._unavailable.get(spec.framework) \
            or self._no_device.get((spec.framework, spec.device))
        if reason:
            return Measurement(spec, status="skipped", message=reason)
        smaller = self._oom_at.get(variant_key(spec))
        if self.opts.oom_skip and smaller is not None and spec.batch_size > smaller:
            return Measurement(spec, status="oom", message=(
                f"not run: batch size {smaller} already ran out of memory "
                f"(use --no-oom-skip to try larger batches)"))
        return None

    def _run_group(self, group: list[PointSpec]) -> None:
        """Run a group's points through one fresh worker; with `--processes N`, in N passes,
        each through its own fresh worker, and store each point's N parts as one point
        (a point that fails in a pass is not run again). A point whose CIs across its N
        processes are still wider than the precision target gets more passes, up to
        `max_processes`, while the processes its spread needs fit within that maximum
        (`_wants_another`): the spread between processes, not the steps, limits it, and
        each process more narrows the t-interval of the per-process figures."""
        if self.opts.processes <= 1:
            self._run_pass(group, self._record)
            return
        parts: dict[str, list[Measurement]] = {s.key(): [] for s in group}

        def keep(m: Measurement) -> None:
            self._note_oom(m)
            parts[m.spec.key()].append(m)

        todo = group
        try:
            for done in range(1, max(self.opts.processes, self.opts.max_processes) + 1):
                self._run_pass(todo, keep)
                todo = [s for s in todo if parts[s.key()][-1].status == "ok"]
                if done >= self.opts.processes:
                    # past --processes: only points whose CI across processes is still too
                    # wide, and that more processes can narrow in time, get another one
                    todo = [s for s in todo if self._wants_another(parts[s.key()])]
                if not todo:
                    break
        except KeyboardInterrupt:
            self._record_interrupted(parts)
            raise
        for spec in group:
            self._record(self._combined(parts[spec.key()]))

    def _record_interrupted(self, parts: dict[str, list[Measurement]]) -> None:
        """Store what an interrupted group measured (nothing measured is lost), marked so
        that `--resume` measures those points again with all their processes."""
        for measured in parts.values():
            if not measured:
                continue
            m = self._combined(measured)
            m.meta["interrupted"] = f"after {len(measured)} of {self.opts.processes} processes"
            m.message = (f"interrupted after {len(measured)} of {self.opts.processes} "
                         f"processes; --resume measures it again")
            self._record(m)

    def _combined(self, parts: list[Measurement]) -> Measurement:
        return combined_point(parts, self.opts.settings)

    def _wants_another(self, parts: list[Measurement]) -> bool:
        """Whether a point past --processes gets another fresh process: its CIs across
        the processes so far are wider than the precision, and the processes the
        precision needs at their spread (`stats.processes_for_precision`) fit within
        --max-processes. A point whose processes disagree by more than that stops here
        instead of spending processes that cannot bring it to its precision."""
        m = self._combined(parts)
        if m.precision_reached:
            return False
        return processes_needed(m, self.opts.settings) <= self.opts.max_processes

    def _run_pass(self, group: list[PointSpec], record: Callable[[Measurement], None]) -> None:
        """Each point of the group through one worker (a fresh one after a failure)."""
        worker: Worker | None = None
        try:
            for spec in group:
                self.reporter.point_started(spec)
                pre = self._precheck(spec)
                if pre is not None:
                    record(pre)
                    continue
                if worker is None:
                    try:
                        worker = self._start_worker(spec)
                    except WorkerFailure as e:   # died, hung or too big while starting
                        record(Measurement(spec, status=e.status, message=e.message,
                                           placement=self._placement(spec)))
                        continue
                    if worker is None:       # framework unavailable: now known, skip
                        record(self._precheck(spec))
                        continue
                m = self._measure(worker, spec)
                if worker_is_spent(m):
                    worker.close(kill=True)
                    worker = None
                record(m)
        finally:
            if worker is not None:
                worker.close(kill=sys.exc_info()[0] is not None)

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
        if not ready["ok"]:
            worker.close()
            self._unavailable[spec.framework] = (
                f"{spec.framework} unavailable: {ready['reason']}"
                + (f" (install: {ready['install']})" if ready.get("install") else ""))
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


def combined_point(parts: list[Measurement], settings: dict[str, Any]) -> Measurement:
    """The processes of one point (`--processes N`) as one measurement, its precision
    judged on all samples."""
    m = combine_processes(parts)
    if m.status != "ok" or len(parts) < 2:
        return m
    precision = _precision(settings)
    summary = stats.point_summary(m)
    m.summary = summary.to_dict()
    m.precision_reached = stats.meets_precision(summary, precision)
    if m.precision_reached:
        m.message = ""
        return m
    spread = stats.point_process_spread(m)
    needed = stats.processes_for_precision(spread, precision)
    why = (f"the processes agree ({spread:.1%} sd): their steps scatter too much"
           if needed <= len(parts) else
           f"the processes differ by {spread:.1%} (sd)" +
           (f", about {needed:.0f} processes would reach it" if math.isfinite(needed) else ""))
    m.message = (f"precision ±{precision:.1%} not reached across {len(parts)} processes "
                 f"(95% CI ±{summary.achieved_precision:.1%}; {why})")
    return m


def _precision(settings: dict[str, Any]) -> float:
    return float(settings.get("loop", {}).get("precision", 0.02))


def processes_needed(m: Measurement, settings: dict[str, Any]) -> float:
    """Fresh processes a combined point needs for its precision at the spread its
    processes show so far (inf when no number within reason will do)."""
    return stats.processes_for_precision(stats.point_process_spread(m), _precision(settings))
