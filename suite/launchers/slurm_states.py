"""What Slurm says of a sweep's jobs: their states (squeue, which lists finished jobs too
while the controller keeps them; no accounting database needed), exit codes (scontrol)
and the exceptions their tasks left in submitit's result files. Read by
`suite.launchers.slurm`, which follows the jobs."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any, Iterable

COMMAND_TIMEOUT_S = 60

# Slurm job states after which a job runs no more, and the point status each one means.
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL",
            "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED", "UNKNOWN"}
STATUS_OF_STATE = {"TIMEOUT": "timeout", "DEADLINE": "timeout", "OUT_OF_MEMORY": "oom"}
# Slurm states of a job that will run (again) after a requeue: followed as live ones.
REQUEUE_STATES = {"REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "PENDING"}


def requeue_note(state: str) -> str:
    """What the console adds where a job that has run shows `state`: a requeue, or ""."""
    if state == "REQUEUE_HOLD":
        return " (requeued and held: `scontrol release` lets it run again)"
    return " (requeued: it runs again)" if state in REQUEUE_STATES else ""


@dataclass
class JobState:
    state: str
    reason: str = ""
    node: str = ""


class SqueueFailed(Exception):
    """squeue did not answer (failed, timed out, missing): nothing is known of any job."""


def query_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """State, reason and node of each job the controller still knows (array tasks one by
    one), from squeue; jobs it no longer lists are absent. SqueueFailed when squeue
    gives no answer: an outage must not read as "every job gone"."""
    wanted = set(job_ids)
    try:
        out = subprocess.run(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%r|%N"],
                             capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as e:
        raise SqueueFailed(str(e).strip().splitlines()[-1][:200] if str(e).strip()
                           else type(e).__name__) from None
    if out.returncode != 0:
        text = (out.stderr or out.stdout or "").strip().splitlines()
        raise SqueueFailed(f"exit code {out.returncode}" + (f": {text[-1][:200]}" if text
                                                            else ""))
    states = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0] in wanted:
            states[parts[0]] = JobState(parts[1], "" if parts[2] == "None" else parts[2],
                                        parts[3])
    return states


def exit_code(job_id: str) -> str:
    """Slurm's "ExitCode=code:signal" of a job, or "" where unknown."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                             text=True, timeout=COMMAND_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    for item in out.split():
        if item.startswith("ExitCode="):
            return item.split("=", 1)[1]
    return ""


# A rank that fails because another one did (its collective lost the peer) is listed last,
# so that the message starts with the cause.
SECONDARY = ("Connection closed by peer", "remote worker crashing", "Connection reset by peer")


def task_errors(job: Any, tasks: int, name: str = "task") -> list[str]:
    """The exception each failed task of a job left in its submitit result, one line each
    (`name` says what a task is: a data-parallel job's tasks are its ranks)."""
    from submitit.core.utils import pickle_load
    errors = []
    for index in range(tasks):
        path = (job.task(index) if tasks > 1 else job).paths.result_pickle
        try:
            outcome, value = pickle_load(path)
        except Exception:   # noqa: BLE001 - no result (killed) or unreadable: nothing to add
            continue
        if outcome != "success":
            lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
            errors.append(f"{name} {index}: {lines[-1].strip()[:300] if lines else 'failed'}")
    return sorted(errors, key=lambda e: any(s in e for s in SECONDARY))
