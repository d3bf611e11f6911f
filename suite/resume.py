"""`--resume`: continue a run folder without losing its history or mixing points that were
measured differently.

run.json keeps the original command, configuration and environment; each resume adds its
own to `resumes`. A resume whose measurement settings or measured software differ from
the run's is refused: its new points would sit in the same tables as the old ones.

An interleaved run (suite.schedule) continues after its last finished round: its
points' processes from the finished rounds are read back from processes.jsonl
(`round_state`), and the round that was stopped is measured again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite import storage
from suite.errors import UsageError
from suite.spec import Measurement

# Configuration that changes what a point measures without being part of its spec (the
# spec's own fields - batch size, dtype, threads, ... - already keep such points apart).
MEASUREMENT_SETTINGS = ("seed", "precision", "min_time", "max_time", "min_steps", "time_cap",
                        "samples", "optimizer", "lr", "momentum", "weight_decay",
                        "worker_per_point", "processes", "max_processes", "schedule",
                        "control", "reference", "min_effect", "resolve")
# What a run.json from before interleaved rounds was measured with (it has "processes"
# but no "schedule"): resuming it in rounds would mix two orders.
BEFORE_ROUNDS = {"schedule": "sequential"}
# Packages that only read results (tables, plots, statistics): free to change in between.
REPORT_ONLY_PACKAGES = ("pandas", "matplotlib", "scipy")


def resume_run(run_dir: Path, command: list[str], config: dict[str, Any],
               environment: dict[str, Any], started_at: str) -> set[str]:
    """Check that `config` and `environment` may add points to `run_dir`, repair a torn
    last line, record this resume in run.json, and return the keys of finished points."""
    info = storage.read_run_info(run_dir)
    if info.task != config["task"]:
        raise UsageError(f"--resume: {run_dir} is a {info.task} run, not {config['task']}")
    earlier = [(info.config, info.environment)] + [
        (r.get("config") or {}, r.get("environment") or {}) for r in info.resumes]
    for old_config, old_env in earlier:
        _check_settings(run_dir, old_config, config)
        _check_versions(run_dir, old_env.get("versions") or {},
                        environment.get("versions") or {})
    for name in (storage.POINTS_FILE, storage.PROCESSES_FILE, storage.ROUNDS_FILE):
        storage.repair_torn_line(run_dir, name)
    info.resumes.append({"command": command, "config": config, "environment": environment,
                         "started_at": started_at})
    storage.write_run_info(run_dir, info)
    return storage.finished_keys(run_dir)


def _option(name: str, value: Any) -> str:
    return f"--{name.replace('_', '-')} {json.dumps(value)}"


def _check_settings(run_dir: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    old = dict(BEFORE_ROUNDS, **old) if "processes" in old else old
    for name in MEASUREMENT_SETTINGS:
        if name in old and name in new and old[name] != new[name]:
            raise UsageError(
                f"--resume: {run_dir} was measured with {_option(name, old[name])}, this "
                f"command has {_option(name, new[name])}; points measured differently would "
                f"be mixed (repeat the original setting, or use another --out)")


def _check_versions(run_dir: Path, old: dict[str, str], new: dict[str, str]) -> None:
    for name in sorted(set(old) & set(new) - set(REPORT_ONLY_PACKAGES)):
        if old[name] != new[name]:
            raise UsageError(
                f"--resume: {run_dir} was measured with {name} {old[name]}, this environment "
                f"has {name} {new[name]}; points of two versions would be mixed (restore "
                f"{name} {old[name]}, or use another --out)")


# A process that failed this way is retried by --resume (as a sequential run retries
# such points): the point goes on from the next round.
RETRIED = ("error", "timeout")


@dataclass
class RoundState:
    """Where an interleaved run stands: its last finished round (0: none) and each
    point's processes from the finished rounds, in round order."""

    last_round: int
    parts: dict[str, list[Measurement]]


def round_state(run_dir: Path) -> RoundState:
    """The finished rounds of an interleaved run folder (rounds.jsonl) and their processes
    (processes.jsonl). Processes of a round that did not finish are left out (the round is
    measured again); of a round measured again, the newest process of each point counts."""
    finished = [r["round"] for r in storage.load_rounds(run_dir) if r.get("finished")]
    last = max(finished, default=0)
    newest: dict[tuple[str, int], Measurement] = {}
    for m in storage.load_processes(run_dir):
        round_no = m.meta.get("round")
        if isinstance(round_no, int) and 1 <= round_no <= last:
            newest[(m.spec.key(), round_no)] = m
    parts: dict[str, list[Measurement]] = {}
    for (key, _), m in sorted(newest.items(), key=lambda item: item[0][1]):
        parts.setdefault(key, []).append(m)
    for measured in parts.values():
        if measured[-1].status in RETRIED:
            measured.pop()
    return RoundState(last, {key: p for key, p in parts.items() if p})
