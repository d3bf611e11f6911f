"""The run folder of `serve` and `tune` (CONTRACT §8, §13): a new one, or `--resume` of an
earlier one through the shared run-folder code (`suite.storage`, `suite.resume`), and
`--launcher`.

A resume hands back the run's finished points (ok or skipped; error and timeout points
are measured again), which the `Recorder` answers from the folder instead of measuring.
Serving settings that change what a point measures without being part of its spec (the
LoadGen test's length, the p99 target, the cores the harness keeps, tune's goal) must
match the run's, or the resume is refused: its points would sit beside ones measured
differently.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from suite import storage
from suite.errors import UsageError
from suite.launchers import LAUNCHERS
from suite.spec import Measurement
from suite.topology import Topology

# ServeConfig / run.json config keys that change what a point measures but are not in its
# spec; tune's goal without `repeats` (a resume may add repeats)
SERVING_SETTINGS = ("duration_s", "min_queries", "p99_ms", "harness_cores", "straddle_numa",
                    "memory_limit_mib", "goal")
OPTION_NAMES = {"duration_s": "--duration", "min_queries": "--min-queries", "p99_ms": "--p99",
                "harness_cores": "--harness-cores", "straddle_numa": "--straddle-numa",
                "memory_limit_mib": "--memory-limit", "goal": "the goal"}


def check_launcher(name: str, command: str) -> str:
    """`--launcher`: local, the only one serving has (UsageError naming why not slurm)."""
    if name not in LAUNCHERS:
        raise UsageError(f"--launcher: unknown value {name!r}; valid for {command}: local")
    launcher = name
    if launcher != "local":
        raise UsageError(f"--launcher {launcher}: {command} runs LoadGen, its dispatchers "
                         "and all instances of a configuration as one system on one "
                         "machine, which a Slurm job per point cannot hold (valid for "
                         f"{command}: local; run it inside an allocation, e.g. srun "
                         f"python -m suite {command} ...)")
    return launcher


def run_dir_for(out: str | None, resume: bool, task: str) -> Path:
    """--out, or with --resume the latest run of this task in results/, or a new
    results/<timestamp>-<task>; UsageError for a new run into a folder with results."""
    if out:
        path = Path(out)
    elif resume:
        runs = sorted(Path("results").glob(f"*-{task}"))
        if not runs:
            raise UsageError(f"--resume: no earlier {task} run in results/; give --out RUN_DIR")
        path = runs[-1]
    else:
        path = Path("results") / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}"
    if not resume and (path / storage.POINTS_FILE).exists():
        raise UsageError(f"{path} already holds results; use --resume or another --out")
    return path


def _comparable(config: dict[str, Any], name: str) -> Any:
    value = config.get(name)
    if name == "goal" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "repeats"}
    return value


def check_settings(run_dir: Path, config: dict[str, Any]) -> None:
    """UsageError when `config` measures differently from the run's original command or
    any earlier resume (a setting of SERVING_SETTINGS differs)."""
    info = storage.read_run_info(run_dir)
    earlier = [info.config] + [r.get("config") or {} for r in info.resumes]
    for old in earlier:
        for name in SERVING_SETTINGS:
            if name in old and name in config and \
                    _comparable(old, name) != _comparable(config, name):
                raise UsageError(
                    f"--resume: {run_dir} was measured with {OPTION_NAMES[name]} "
                    f"{json.dumps(_comparable(old, name))}, this command has "
                    f"{OPTION_NAMES[name]} {json.dumps(_comparable(config, name))}; points "
                    "measured differently "
                    "would be mixed (repeat the original setting, or use another --out)")


def open_run(run_dir: Path, argv: list[str], config: dict[str, Any], whole: Topology,
             resume: bool) -> dict[str, Measurement]:
    """Write run.json for a new run, or check and record a resume (`suite.resume`); the
    finished points of the run by spec key (empty for a new run)."""
    from suite.env import fingerprint
    from suite.resume import resume_run
    environment, now = fingerprint(whole), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not resume:
        storage.write_run_info(run_dir, storage.RunInfo(
            run_id=run_dir.name, task=config["task"], command=argv, config=config,
            environment=environment, started_at=now))
        return {}
    check_settings(run_dir, config)
    keys = resume_run(run_dir, argv, config, environment, now)
    return {m.spec.key(): m for m in storage.load_measurements(run_dir) if m.spec.key() in keys}
