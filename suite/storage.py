"""Run folders on disk: run.json (configuration + environment) and points.jsonl (one
measurement per line, appended, flushed and fsynced as each point finishes).

An interleaved run (`--schedule interleaved`, suite.schedule) also keeps
processes.jsonl (every process of every point, a measurement record with
`meta["round"]`, appended as it finishes) and rounds.jsonl (one line per round: its
number, the spec keys in the order they ran, whether it finished); its points.jsonl gets
a point's record after every round, each superseding the one before.

JSON only. Nothing measured is lost: a line torn by a crash mid-write is never glued to
the next record (an append first ends it), `--resume` cuts it off, and loading skips a
malformed line with a DataWarning naming it. A write that fails (a full disk) is undone
and becomes a UsageError, so the lines before it stay readable.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from suite.errors import DataWarning, UsageError
from suite.spec import SCHEMA_VERSION, STATUSES, Measurement, PointSpec

RUN_FILE = "run.json"
POINTS_FILE = "points.jsonl"
PROCESSES_FILE = "processes.jsonl"     # interleaved runs: every process's own record
ROUNDS_FILE = "rounds.jsonl"           # interleaved runs: each round's order
ROUND_SCHEMA = 1
T = TypeVar("T")


@dataclass
class RunInfo:
    """Contents of run.json."""

    run_id: str
    task: str                      # train | infer | serve | tune
    command: list[str]
    config: dict[str, Any]         # the exact resolved configuration
    environment: dict[str, Any]    # the fingerprint of suite.env
    started_at: str
    schema: int = SCHEMA_VERSION
    # one entry per --resume: its command, config, environment and start time; the
    # fields above stay those of the original command
    resumes: list[dict[str, Any]] = field(default_factory=list)
    # what the finished run can resolve (suite.certificate.run_certificate); {} until it ends
    certificate: dict[str, Any] = field(default_factory=dict)
    # imported models (--model-file): each one's check against the original file
    # (suite.equivalence.check_model), by model name
    equivalence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "run_id": self.run_id, "task": self.task,
                "command": self.command, "config": self.config,
                "environment": self.environment, "started_at": self.started_at,
                "resumes": self.resumes, "certificate": self.certificate,
                "equivalence": self.equivalence}


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    """Write run.json atomically (temp file + rename); UsageError when the folder cannot
    be created or written."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"run folder {run_dir} is a file, not a folder; give --out a folder")
    tmp = run_dir / (RUN_FILE + ".tmp")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(info.to_dict(), indent=2, sort_keys=True, default=str))
        os.replace(tmp, run_dir / RUN_FILE)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the run folder {run_dir}: "
                         f"{e.strerror or e}") from None


def read_run_info(run_dir: Path) -> RunInfo:
    """Load run.json; UsageError when missing, unreadable or from a newer dlbench."""
    path = Path(run_dir) / RUN_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a dlbench run folder (no {RUN_FILE})") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"cannot read {path}: not a JSON object")
    if data.get("schema", 1) > SCHEMA_VERSION:
        raise UsageError(f"{path} has schema {data['schema']}, newer than this dlbench "
                         f"understands ({SCHEMA_VERSION}); upgrade dlbench")
    try:
        return RunInfo(run_id=data["run_id"], task=data["task"], command=data["command"],
                       config=data["config"], environment=data["environment"],
                       started_at=data["started_at"], schema=data.get("schema", 1),
                       resumes=list(data.get("resumes") or []),
                       certificate=dict(data.get("certificate") or {}),
                       equivalence=dict(data.get("equivalence") or {}))
    except (KeyError, TypeError) as e:
        raise UsageError(f"cannot read {path}: it lacks {e}") from None


def append_measurement(run_dir: Path, m: Measurement) -> None:
    """Append one point to points.jsonl and make it durable before returning.

    A last line left without its newline by a crash is ended first, so this record is
    never glued to it. A failed write (ENOSPC, EIO) is cut back off and raised as a
    UsageError: the file keeps only whole lines. The file is locked while appending, so
    jobs on several nodes (`--launcher slurm`, shared storage) never interleave lines.
    """
    append_record(run_dir, POINTS_FILE, m.to_record())


def append_process(run_dir: Path, m: Measurement) -> None:
    """Append one process of a point (interleaved runs) to processes.jsonl, durably."""
    append_record(run_dir, PROCESSES_FILE, m.to_record())


def append_round(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one round's record (suite.schedule) to rounds.jsonl, durably."""
    append_record(run_dir, ROUNDS_FILE, dict(record, schema=ROUND_SCHEMA))


def append_record(run_dir: Path, name: str, record: dict[str, Any]) -> None:
    """Append one JSON record as a line of `run_dir/name`, as `append_measurement` says."""
    line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
    path = Path(run_dir) / name
    size = None
    try:
        with open(path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)    # released when the file is closed
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if size is not None:
            _truncate(path, size)
        raise UsageError(f"cannot write {path}: {e.strerror or e}; the points before this "
                         f"one are kept: continue with --resume --out {run_dir}") from None


def _truncate(path: Path, size: int) -> None:
    try:
        os.truncate(path, size)
    except OSError:
        pass  # the torn tail is cut by the next --resume instead


def repair_torn_line(run_dir: Path, name: str = POINTS_FILE) -> None:
    """Cut off a last line that a crash left without its newline (before --resume appends).

    The torn bytes are not a point: its spec is measured again. Warns naming the line.
    """
    path = Path(run_dir) / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    lineno = data.count(b"\n", 0, keep) + 1
    try:
        os.truncate(path, keep)
    except OSError as e:
        raise UsageError(f"cannot repair {path}: {e.strerror or e}") from None
    warnings.warn(DataWarning(
        f"{path}:{lineno}: removed a line torn by an interrupted write "
        f"({len(data) - keep} bytes without a newline); its point is measured again"),
        stacklevel=2)


def parse_record(text: str) -> Measurement:
    """One line of points.jsonl as a measurement; ValueError saying what is wrong with it."""
    rec = json.loads(text)
    if not isinstance(rec, dict):
        raise ValueError(f"a JSON {type(rec).__name__} instead of a record")
    spec = rec.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("the record has no spec")
    required = [f.name for f in dataclasses.fields(PointSpec)
                if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in spec]
    if missing:
        raise ValueError(f"its spec lacks {', '.join(missing)}")
    if rec.get("status", "ok") not in STATUSES:
        raise ValueError(f"unknown status {rec.get('status')!r}")
    samples = rec.get("samples_ns")
    if rec.get("status", "ok") == "ok" and not (
            isinstance(samples, list) and samples
            and all(isinstance(v, (int, float)) and v > 0 for v in samples)):
        raise ValueError("an ok point without positive samples_ns")
    try:
        return Measurement.from_record(rec)
    except (TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"fields do not fit a measurement ({e})") from None


def load_measurements(run_dir: Path) -> list[Measurement]:
    """The newest record of each point (by `spec.key()`), in the order the points first
    appear: a later record of the same spec supersedes an earlier one (an interleaved run
    appends a point after every round). A line that is not a valid record is skipped with
    a DataWarning."""
    by_key: dict[str, Measurement] = {}
    for m in _read_lines(run_dir, POINTS_FILE, parse_record):
        by_key[m.spec.key()] = m
    return list(by_key.values())


def load_processes(run_dir: Path) -> list[Measurement]:
    """Every process record of an interleaved run (processes.jsonl), in file order."""
    return _read_lines(run_dir, PROCESSES_FILE, parse_record)


def load_rounds(run_dir: Path) -> list[dict[str, Any]]:
    """The round records of an interleaved run (rounds.jsonl), in file order; [] for none."""
    return _read_lines(run_dir, ROUNDS_FILE, _round_record)


def _round_record(text: str) -> dict[str, Any]:
    rec = json.loads(text)
    if not isinstance(rec, dict) or not isinstance(rec.get("round"), int):
        raise ValueError("not a round record")
    if rec.get("schema", 1) > ROUND_SCHEMA:
        raise UsageError(f"round record schema {rec['schema']} is newer than this dlbench "
                         f"understands ({ROUND_SCHEMA}); upgrade dlbench")
    return rec


def _read_lines(run_dir: Path, name: str, parse: Callable[[str], T]) -> list[T]:
    """The lines of `run_dir/name` as `parse` reads them; a line it refuses (ValueError)
    is skipped with a DataWarning naming it."""
    path = Path(run_dir) / name
    if not Path(run_dir).is_dir():
        raise UsageError(f"{run_dir} is not a folder")
    if not path.exists():
        return []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    good = []
    for lineno, raw in enumerate(lines, 1):
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            good.append(parse(text))
        except ValueError as e:
            torn = " (torn by an interrupted write?)" if lineno == len(lines) else ""
            warnings.warn(DataWarning(f"{path}:{lineno}: skipped a malformed line{torn}: "
                                      f"{str(e)[:200]}"), stacklevel=3)
    return good


def finished_keys(run_dir: Path) -> set[str]:
    """Keys of the specs already stored (any status but error/timeout, which are retried,
    points stored partially by an interrupted `--processes N` pass, measured again, and an
    interleaved run's records that more rounds were to add to, `meta["partial"]`)."""
    return {m.spec.key() for m in load_measurements(run_dir)
            if m.status in ("ok", "oom", "skipped") and not m.meta.get("interrupted")
            and not m.meta.get("partial")}
