"""`--launcher slurm`: a sweep's points as Slurm jobs, submitted through submitit.

One job per point by default (with `--no-worker-per-point`, one per worker group: points
that share a framework and placement), submitted as job arrays of jobs that ask for the
same resources. Every job gets an exclusive node unless told otherwise: a benchmark point
must own its node. On the node the job runs the ordinary runner (suite.launchers.slurm_job)
and appends its points to the run folder, which must be on storage the nodes share.
A data-parallel point is one job of `--nnodes` nodes x `--nproc-per-node` tasks, one
Slurm task per rank. A job runs its points' processes back to back: Slurm sweeps keep
`--schedule sequential` (run.json says so); interleaved rounds are the local launcher's.

Here the launcher follows the jobs' states (squeue, which lists finished jobs too while
the controller keeps them; no accounting database needed) and the points the jobs append,
reporting each point as it lands. A job that ends without storing its points (failed,
cancelled, preempted, timed out, node failure) makes them that job's status: `timeout`
for Slurm's TIMEOUT, `oom` for OUT_OF_MEMORY, else `error`, with Slurm's state, reason,
exit code, the failed task's exception and the job id. After an `oom` point, pending jobs
of larger batches of the same variant are cancelled and recorded as `oom` (not run), as
the local runner does. Ctrl-C (or SIGTERM/SIGHUP) cancels every job of the run.

A preempted job that Slurm (or submitit, on its preemption signal) requeues runs again:
REQUEUED, REQUEUE_HOLD and PENDING after RUNNING are states of a live job, and a
PREEMPTED state is final only when the job does not come back within REQUEUE_POLLS. An
squeue outage (the command failing or timing out) says nothing of the jobs: they are
left alone and followed again when squeue answers; points their jobs store meanwhile
land as usual. Only after `SlurmOptions.outage_s` of outage are the points still missing
recorded `error` (state unknown, the jobs not cancelled: a point a job stores later
supersedes that record).
"""
from __future__ import annotations

import math
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from suite import storage
from suite.errors import UsageError
from suite.runner import Reporter, RunOptions, variant_key
from suite.launchers.node_peak import peak_request
from suite.launchers.slurm_states import (COMMAND_TIMEOUT_S, STATUS_OF_STATE, TERMINAL,
                                          JobState, SqueueFailed, exit_code, query_states,
                                          requeue_note, task_errors)
from suite.schedule import worker_key
from suite.spec import Measurement, PointSpec

LOST_POLLS = 30          # polls a job may be missing from squeue before it counts as lost
GRACE_POLLS = 5          # polls a completed job's points may take to show (NFS caches)
REQUEUE_POLLS = 30       # polls a PREEMPTED job may take to show up requeued
OUTAGE_NOTE_S = 60.0     # an squeue outage is reported after this long, then every ...
OUTAGE_REPEAT_S = 600.0  # ... this long


@dataclass(frozen=True)
class SlurmOptions:
    """The `--slurm-*` options."""

    partition: str | None = None
    time_min: int | None = None          # job time limit; default: from --timeout
    gpus_per_node: int | None = None
    params: dict[str, str] = field(default_factory=dict)   # --slurm-param KEY=VALUE
    exclusive: bool = True
    poll_s: float = 1.0
    outage_s: float = 3600.0     # squeue failing this long: missing points become `error`


@dataclass
class _Job:
    job: Any                              # submitit.Job
    specs: list[PointSpec]
    state: str = "SUBMITTED"
    done: bool = False
    unseen: int = 0
    grace: int = 0
    ran: bool = False                     # it has been RUNNING (a PENDING after: requeued)

    @property
    def job_id(self) -> str:
        return str(self.job.job_id)

    def describe(self) -> str:
        first = self.specs[0]
        more = f" +{len(self.specs) - 1} points" if len(self.specs) > 1 else ""
        return f"{first.model} bs={first.batch_size}{more}"


class SlurmLauncher:
    """Runs specs as Slurm jobs and follows them until every point is stored."""

    def __init__(self, run_dir: Path, opts: RunOptions, reporter: Reporter,
                 unsupported: Callable[[PointSpec], str | None], slurm: SlurmOptions) -> None:
        self.run_dir = Path(run_dir)
        self.opts = opts
        self.reporter = reporter
        self.unsupported = unsupported
        self.slurm = slurm
        self.measurements: list[Measurement] = []
        self._offset = 0              # bytes of points.jsonl already read
        self._expected: set[str] = set()
        self._peak_request: dict[str, Any] = {}
        self._outage_since: float | None = None
        self._outage_noted = 0.0      # seconds of outage already reported

    def run(self, specs: list[PointSpec], done_keys: Iterable[str] = ()) -> list[Measurement]:
        if shutil.which("sbatch") is None:
            raise UsageError("--launcher slurm: sbatch not found here (run on a Slurm login "
                             "node; scripts/local-slurm.sh start brings up a one-node "
                             "cluster on this machine; valid launchers: local, slurm)")
        try:
            import submitit  # noqa: F401 - the engine that writes and submits the jobs
        except ImportError:
            raise UsageError("--launcher slurm needs submitit: pip install submitit "
                             "(or the project's `slurm` extra)") from None
        done = set(done_keys)
        todo = [s for s in specs if s.key() not in done]
        self.reporter.start(len(specs), len(specs) - len(todo))
        self._offset = self._points_size()
        runnable = []
        for spec in todo:
            reason = self.unsupported(spec)
            if reason:
                self._record(Measurement(spec, status="skipped", message=reason))
            else:
                runnable.append(spec)
        jobs: list[_Job] = []
        self._peak_request = peak_request(runnable)    # measured on each node, once
        try:
            self._submit(self._groups(runnable), jobs)
            self._watch(jobs)
        except BaseException:   # Ctrl-C, SIGTERM/SIGHUP, or a failure here: no job outlives it
            self._cancel([j for j in jobs if not j.done])
            raise
        self.reporter.finish(self.measurements, self.run_dir)
        return self.measurements

    # ------------------------------------------------------------------ submitting

    def _groups(self, specs: list[PointSpec]) -> list[list[PointSpec]]:
        """One job per point, or per worker group with --no-worker-per-point (a
        data-parallel point is always a job of its own: its tasks are its ranks)."""
        if self.opts.worker_per_point:
            return [[s] for s in specs]
        groups: dict[tuple, list[PointSpec]] = {}
        for s in specs:
            key = ("point", s.key()) if s.world_size > 1 else worker_key(s)
            groups.setdefault(key, []).append(s)
        return list(groups.values())

    def _resources(self, group: list[PointSpec]) -> tuple[int, int, int, int]:
        """(nodes, tasks per node, CPUs per task, minutes) a group's job asks for."""
        spec = group[0]
        threads = max(s.threads or 1 for s in group)
        if self.slurm.time_min:
            minutes = self.slurm.time_min
        else:   # every point may use its whole --timeout, in each of its processes
            processes = max(1, self.opts.processes, self.opts.max_processes)
            budget_s = len(group) * self.opts.timeout_s * processes
            minutes = math.ceil(budget_s / 60) + 5
        if spec.world_size > 1:
            return spec.nnodes, spec.nproc_per_node, threads, minutes
        return 1, 1, threads, minutes

    def _parameters(self, resources: tuple[int, int, int, int]) -> dict[str, Any]:
        nodes, tasks, cpus, minutes = resources
        params: dict[str, Any] = {
            "job_name": f"dlbench-{self.run_dir.name}", "nodes": nodes,
            "ntasks_per_node": tasks, "cpus_per_task": cpus, "time": minutes,
            "additional_parameters": dict(self.slurm.params)}
        if self.slurm.exclusive:
            params["exclusive"] = True
        if self.slurm.partition:
            params["partition"] = self.slurm.partition
        if self.slurm.gpus_per_node:
            params["gpus_per_node"] = self.slurm.gpus_per_node
        if nodes * tasks > 1:   # a failed rank ends the job's other ranks at once
            params["srun_args"] = ["--kill-on-bad-exit=1"]
        return params

    def _payload(self, group: list[PointSpec]) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir.resolve()), "specs": [s.to_dict() for s in group],
                "settings": self.opts.settings, "timeout_s": self.opts.timeout_s,
                "memory_limit_mib": self.opts.memory_limit_mib, "oom_skip": self.opts.oom_skip,
                "worker_per_point": self.opts.worker_per_point,
                "processes": self.opts.processes,
                "max_processes": max(self.opts.processes, self.opts.max_processes),
                "exclusive": self.slurm.exclusive, "peak": self._peak_request}

    def _submit(self, groups: list[list[PointSpec]], jobs: list[_Job]) -> None:
        """Submit the groups, one job array per set of resources."""
        import submitit
        from suite.launchers.slurm_job import run_job
        by_resources: dict[tuple, list[list[PointSpec]]] = {}
        for group in groups:
            by_resources.setdefault(self._resources(group), []).append(group)
        for resources, same in by_resources.items():
            executor = submitit.SlurmExecutor(folder=self.run_dir / "slurm" / "%j",
                                              max_num_timeout=0)
            executor.update_parameters(**self._parameters(resources))
            try:
                with executor.batch():
                    submitted = [executor.submit(run_job, self._payload(g)) for g in same]
            except Exception as e:   # noqa: BLE001 - sbatch refused (partition, options)
                raise UsageError(f"--launcher slurm: sbatch failed: "
                                 f"{str(e).strip().splitlines()[-1][:300]}") from None
            for job, group in zip(submitted, same):
                jobs.append(_Job(job, group))
                self._expected.update(s.key() for s in group)
                self._note(f"slurm job {job.job_id}: submitted ({_Job(job, group).describe()})")

    # -------------------------------------------------------------------- following

    def _watch(self, jobs: list[_Job]) -> None:
        """Follow the jobs' states and the points they store until all jobs have ended."""
        while True:
            self._collect_points(jobs)
            live = [j for j in jobs if not j.done]
            if not live:
                return
            try:
                states = query_states(j.job_id for j in live)
            except SqueueFailed as e:
                self._outage(live, str(e))
                time.sleep(self.slurm.poll_s)
                continue
            if self._outage_since is not None:
                self._note(f"squeue answers again after {self._outage_text()}")
                self._outage_since = None
            for j in live:
                state = states.get(j.job_id) or self._unlisted(j)
                if state is not None:
                    self._follow(j, state, jobs)
            time.sleep(self.slurm.poll_s)

    def _follow(self, j: _Job, state: JobState, jobs: list[_Job]) -> None:
        """One job's new state: reported, and a job that has ended finished."""
        if state.state != j.state:
            where = f" on {state.node}" if state.node and state.state == "RUNNING" else ""
            again = requeue_note(state.state) if j.ran else ""
            self._note(f"slurm job {j.job_id}: {j.state} -> {state.state}{where} "
                       f"({j.describe()}){again}")
            if state.state == "RUNNING":
                j.ran = True
                for spec in j.specs:
                    self.reporter.point_started(spec)
            j.state = state.state
        if state.state in TERMINAL:
            self._collect_points(jobs)
            self._finish(j, state)
        else:
            j.grace = 0

    def _outage(self, live: list[_Job], error: str) -> None:
        """squeue gave no answer: the jobs are left alone (their stored points still
        land); said after OUTAGE_NOTE_S, and after `outage_s` the points still missing
        are recorded `error`, the jobs not cancelled."""
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since, self._outage_noted = now, 0.0
        for j in live:            # a job that stored all its points needs no squeue
            if not any(s.key() in self._expected for s in j.specs):
                j.done = True
        lasted = now - self._outage_since
        if lasted >= self.slurm.outage_s:
            for j in (j for j in live if not j.done):
                self._give_up(j, error)
        elif lasted >= max(OUTAGE_NOTE_S, self._outage_noted + OUTAGE_REPEAT_S):
            self._outage_noted = lasted
            waiting = sum(1 for j in live if not j.done)
            self._note(f"squeue has failed for {self._outage_text()} ({error}): "
                       f"{waiting} job(s) left running, still waiting for them")

    def _give_up(self, j: _Job, error: str) -> None:
        """After a long squeue outage: a job's missing points become `error`."""
        j.done = True
        for spec in [s for s in j.specs if s.key() in self._expected]:
            m = Measurement(spec, status="error", message=(
                f"Slurm job {j.job_id}: state unknown, squeue failed for "
                f"{self._outage_text()} ({error}); the job was not cancelled: a point it "
                f"stores later supersedes this record; log: {j.job.paths.stderr}"))
            m.meta["slurm"] = {"job_id": j.job_id, "state": "UNKNOWN",
                               "reason": f"squeue failed: {error}"}
            self._expected.discard(spec.key())
            self._record(m)

    def _outage_text(self) -> str:
        seconds = time.monotonic() - (self._outage_since or time.monotonic())
        return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"

    def _unlisted(self, j: _Job) -> JobState | None:
        """A job squeue does not list: ended if it left its result, lost after a while."""
        j.unseen += 1
        if j.job.paths.result_pickle.exists():
            return JobState("COMPLETED" if not task_errors(j.job, 1) else "FAILED")
        if j.unseen > LOST_POLLS:
            return JobState("UNKNOWN", "Slurm no longer lists the job and it left no result")
        return None

    def _points_size(self) -> int:
        try:
            return (self.run_dir / storage.POINTS_FILE).stat().st_size
        except OSError:
            return 0

    def _collect_points(self, jobs: list[_Job]) -> None:
        """Report the points the jobs appended since the last look."""
        path = self.run_dir / storage.POINTS_FILE
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1        # whole lines only; the rest is still being written
        self._offset += end
        for line in data[:end].splitlines():
            try:
                m = storage.parse_record(line.decode("utf-8", errors="replace"))
            except ValueError:
                continue    # reported by `report`/--resume, which read the whole file
            if m.spec.key() in self._expected:
                self._expected.discard(m.spec.key())
                self.measurements.append(m)
                self.reporter.point_finished(m)
                if m.status == "oom":
                    self._skip_after_oom(m, jobs)

    def _finish(self, j: _Job, state: JobState) -> None:
        """A job has ended: its points not stored become the job's status."""
        missing = [s for s in j.specs if s.key() in self._expected]
        if missing and state.state == "COMPLETED" and j.grace < GRACE_POLLS:
            j.grace += 1      # shared storage may show the job's last lines a bit later
            return
        if missing and state.state == "PREEMPTED" and j.grace < REQUEUE_POLLS:
            j.grace += 1      # a requeued job shows up PENDING again: then it runs again
            return
        j.done = True
        if not missing:
            return
        code = exit_code(j.job_id)
        tasks = j.specs[0].world_size
        errors = task_errors(j.job, tasks, "rank" if tasks > 1 else "task")
        text = f"Slurm job {j.job_id} {state.state}"
        text += f" (reason: {state.reason})" if state.reason else ""
        text += f", exit code {code}" if code else ""
        text += f": {'; '.join(errors)}" if errors else ""
        if state.state == "COMPLETED" and not errors:
            text += ", without storing this point"
        text += f"; log: {j.job.paths.stderr}"
        for spec in missing:
            m = Measurement(spec, status=STATUS_OF_STATE.get(state.state, "error"), message=text)
            m.meta["slurm"] = {"job_id": j.job_id, "state": state.state,
                               "reason": state.reason, "exit_code": code}
            self._expected.discard(spec.key())
            self._record(m)

    def _skip_after_oom(self, m: Measurement, jobs: list[_Job]) -> None:
        """Cancel pending jobs of larger batches of an oom variant; record them as oom."""
        if not self.opts.oom_skip:
            return
        variant = variant_key(m.spec)
        for j in jobs:
            if j.done or j.state not in ("SUBMITTED", "PENDING") or not all(
                    variant_key(s) == variant and s.batch_size > m.spec.batch_size
                    for s in j.specs):
                continue
            self._cancel([j])
            j.done = True
            for spec in j.specs:
                self._expected.discard(spec.key())
                self._record(Measurement(spec, status="oom", message=(
                    f"not run: batch size {m.spec.batch_size} already ran out of memory "
                    f"(its Slurm job {j.job_id} was cancelled; use --no-oom-skip to try "
                    f"larger batches)")))

    def _cancel(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        try:
            subprocess.run(["scancel", *[j.job_id for j in jobs]], capture_output=True,
                           timeout=COMMAND_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError):
            pass   # the jobs end at their time limit
        self._note(f"cancelled slurm job(s) {', '.join(j.job_id for j in jobs)}")

    def _record(self, m: Measurement) -> None:
        """Store a point decided here (its key is no longer expected from a job)."""
        storage.append_measurement(self.run_dir, m)
        self.measurements.append(m)
        self.reporter.point_finished(m)

    def _note(self, text: str) -> None:
        note = getattr(self.reporter, "note", None)
        if note is not None:
            note(text)
