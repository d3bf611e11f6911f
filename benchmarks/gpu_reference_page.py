"""README.md of the GPU reference folder: what ran, what did not fit, what the machine lacks.

Everything on the page is read from the run folders (run.json, points.jsonl) and from the
frameworks' availability probed on the machine itself; nothing is typed in by hand.
"""
from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

from suite import storage
from suite.env import framework_status

import frameworks


def planned(config: dict) -> list[tuple]:
    """(framework, optimization, model, dtype, batch) of every point the sweep asked for."""
    dtypes = config.get("dtypes") or [config.get("dtype", "float32")]
    return [(fw, opt, model, dtype, batch)
            for fw in config["frameworks"]
            for opt, model, dtype, batch in itertools.product(
                config["optimizations"][fw], config["models"], dtypes, config["batches"])]


def sweep_section(name: str, run_dir: Path, command: list[str], outcome: str) -> list[str]:
    lines = [f"## {name}", "", f"`python -m suite {' '.join(command)}` — {outcome}", ""]
    if not (run_dir / storage.RUN_FILE).exists():
        return lines + ["Not started: no GPU time was left for it.", ""]
    info = storage.read_run_info(run_dir)
    points = storage.load_measurements(run_dir)
    stored = {(m.spec.framework, m.spec.optimization, m.spec.model, m.spec.dtype,
               m.spec.batch_size): m.status for m in points}
    todo = [p for p in planned(info.config) if p not in stored]
    counts = Counter(stored.values())
    lines.append(f"Report: [{name}/index.md]({name}/index.md). Points stored: "
                 + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".")
    if todo:
        by_model: dict[str, list[str]] = {}
        for fw, opt, model, dtype, batch in todo:
            by_model.setdefault(f"{model} ({opt}, {dtype})", []).append(str(batch))
        lines += ["", f"Did not fit in the GPU time ({len(todo)} points; the next GPU "
                      f"session continues them with `--resume`):", ""]
        lines += [f"- {k}: batches {', '.join(v)}" for k, v in by_model.items()]
    return lines + [""]


def lacking() -> list[str]:
    """One line per framework the machine cannot run on its GPU, with the reason."""
    lines = []
    for name in frameworks.REGISTRY:
        status = framework_status(name)
        if not status.get("ok"):
            lines.append(f"- {name}: not installed here ({status.get('reason')})")
        elif "cuda" not in status.get("devices", []):
            why = status.get("device_reason") or \
                f"devices: {', '.join(status.get('devices', []))}"
            lines.append(f"- {name} {status.get('version')}: installed, but not for the GPU "
                         f"({why})")
    return lines


def write_readme(folder: Path, sweeps: dict[str, list[str]], outcome: dict[str, str]) -> None:
    env = {}
    for name in sweeps:
        if (folder / name / storage.RUN_FILE).exists():
            env = storage.read_run_info(folder / name).environment
            break
    gpus = "; ".join(str(g.get("name")) for g in env.get("gpus") or []) or "unknown GPU"
    lines = ["# GPU reference run", "",
             f"Machine: {gpus}, {env.get('cpu_model', 'unknown CPU')}; "
             f"versions {json.dumps(env.get('versions', {}))}.", "",
             "Made by `benchmarks/gpu_reference.py` inside `scripts/device-check.sh`; "
             "every figure is in the run folders below, each with its own report page.", ""]
    for name, command in sweeps.items():
        lines += sweep_section(name, folder / name, command, outcome.get(name, "not run"))
    lines += ["## Frameworks this machine cannot run on its GPU", ""] + \
        (lacking() or ["- none"]) + [""]
    (folder / "README.md").write_text("\n".join(lines))
