"""Run folders on disk: run.json (configuration + environment) and points.jsonl (one
measurement per line, appended, flushed and fsynced as each point finishes).

JSON only. A truncated last line (a kill mid-write) is ignored on load, so every finished
point stays readable.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.errors import UsageError
from suite.spec import SCHEMA_VERSION, Measurement, PointSpec

RUN_FILE = "run.json"
POINTS_FILE = "points.jsonl"


@dataclass
class RunInfo:
    """Contents of run.json."""

    run_id: str
    task: str                      # train | infer
    command: list[str]
    config: dict[str, Any]         # the exact resolved configuration
    environment: dict[str, Any]    # the fingerprint of suite.env
    started_at: str
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "run_id": self.run_id, "task": self.task,
                "command": self.command, "config": self.config,
                "environment": self.environment, "started_at": self.started_at}


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    """Write run.json atomically (temp file + rename)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=2, sort_keys=True, default=str))
    os.replace(tmp, run_dir / RUN_FILE)


def read_run_info(run_dir: Path) -> RunInfo:
    """Load run.json; UsageError when missing, unreadable or from a newer dlbench."""
    path = Path(run_dir) / RUN_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a dlbench run folder (no {RUN_FILE})") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    if data.get("schema", 1) > SCHEMA_VERSION:
        raise UsageError(f"{path} has schema {data['schema']}, newer than this dlbench "
                         f"understands ({SCHEMA_VERSION}); upgrade dlbench")
    return RunInfo(run_id=data["run_id"], task=data["task"], command=data["command"],
                   config=data["config"], environment=data["environment"],
                   started_at=data["started_at"], schema=data.get("schema", 1))


def append_measurement(run_dir: Path, m: Measurement) -> None:
    """Append one point to points.jsonl and make it durable before returning."""
    line = json.dumps(m.to_record(), sort_keys=True, allow_nan=False) + "\n"
    with open(Path(run_dir) / POINTS_FILE, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def load_measurements(run_dir: Path) -> list[Measurement]:
    """All points of a run in file order; a later record of the same spec replaces an earlier one."""
    path = Path(run_dir) / POINTS_FILE
    if not Path(run_dir).is_dir():
        raise UsageError(f"{run_dir} is not a folder")
    if not path.exists():
        return []
    by_key: dict[str, Measurement] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line from a kill mid-write: skip it
            m = Measurement.from_record(rec)
            by_key[m.spec.key()] = m
    return list(by_key.values())


def finished_keys(run_dir: Path) -> set[str]:
    """Keys of the specs already stored (any status but error/timeout, which are retried)."""
    return {m.spec.key() for m in load_measurements(run_dir)
            if m.status in ("ok", "oom", "skipped")}


def spec_keys(specs: list[PointSpec]) -> list[str]:
    return [s.key() for s in specs]
