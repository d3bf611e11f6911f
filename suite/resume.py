"""`--resume`: continue a run folder without losing its history or mixing points that were
measured differently.

run.json keeps the original command, configuration and environment; each resume adds its
own to `resumes`. A resume whose measurement settings, measured software (Python, dlbench,
numpy and the run's own frameworks) or machine (`suite.env.HARDWARE_FIELDS`) differ from
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

import frameworks
from suite import storage
from suite.env import HARDWARE_FIELDS
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
# What every run's figures depend on, whatever its frameworks (beside frameworks.PACKAGES).
CORE_PACKAGES = ("python", "dlbench", "numpy")


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
        conflicts = environment_conflicts(old_env, environment, run_frameworks(config))
        if conflicts:
            raise UsageError(f"--resume: {run_dir} was measured {conflicts[0]}")
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


def run_frameworks(config: dict[str, Any]) -> list[str] | None:
    """The frameworks a run measures (a sweep's list, a serving run's one); None where its
    configuration names none."""
    if config.get("frameworks"):
        return list(config["frameworks"])
    return [config["framework"]] if config.get("framework") else None


def environment_conflicts(old: dict[str, Any], new: dict[str, Any],
                          run_fws: list[str] | None) -> list[str]:
    """Why points measured in environment `new` may not join a run measured in `old` (each
    a fingerprint of suite.env), as "with ..." / "on ..." clauses; [] when they may. The
    machine counts (HARDWARE_FIELDS), and the versions of Python, dlbench, numpy and the
    run's frameworks (`run_fws`; every package but the report's where None)."""
    reasons = []
    old_hw, new_hw = _hardware(old), _hardware(new)
    for name in HARDWARE_FIELDS:
        if name in old_hw and name in new_hw and old_hw[name] != new_hw[name]:
            reasons.append(f"on {name} {json.dumps(old_hw[name])}, this machine has "
                           f"{json.dumps(new_hw[name])}; points of two machines would be "
                           f"mixed (use another --out)")
    old_v, new_v = old.get("versions") or {}, new.get("versions") or {}
    names = set(old_v) & set(new_v) - set(REPORT_ONLY_PACKAGES)
    if run_fws is not None:
        names &= set(CORE_PACKAGES).union(*(frameworks.PACKAGES.get(fw, ()) for fw in run_fws))
    for name in sorted(names):
        if old_v[name] != new_v[name]:
            reasons.append(f"with {name} {old_v[name]}, this environment has {name} "
                           f"{new_v[name]}; points of two versions would be mixed (restore "
                           f"{name} {old_v[name]}, or use another --out)")
    return reasons


def _hardware(env: dict[str, Any]) -> dict[str, Any]:
    """The machine fields of a fingerprint; GPUs by name (their memory may read None, on MIG)."""
    hw = {k: env[k] for k in HARDWARE_FIELDS if k in env}
    if "gpus" in hw:
        hw["gpus"] = [g.get("name") if isinstance(g, dict) else g for g in hw["gpus"] or []]
    return hw


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
