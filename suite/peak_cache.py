"""This machine's CPU peak, remembered across runs, so one disturbed probe cannot halve it.

A sweep's peak probe (`suite.peak.measure_peak`) is short: about 0.3 s per thread count.
On a shared machine one such probe read 116 GFLOP/s where the same machine's others read
256-285, and every % of peak of that run came out twice too high. A peak is the machine's
limit, which neighbours do not lower; a low reading is a disturbed one. So each thread
count's readings are kept in ``$DLBENCH_CACHE/peak.json`` (`suite.cache`), keyed by the
CPU model, logical CPU count, governor, turbo state, the cores the probe ran on and the
thread count (the CPU model fixes the vector instructions the probe uses), and a run's figure is the best of its own probe and the kept readings:

- a probe more than `RECHECK_BELOW` under the best kept reading is measured again, longer
  (`RECHECK_S`); if it is still under, the run warns (the machine is busy now, or slower
  than it was), and its % of peak divides by the kept best;
- the last `KEEP` readings are kept, so a machine that really became slower (a BIOS or
  governor change the key does not see) is believed once `KEEP` newer readings have
  replaced its old best (each such run warns until then);
- the readings' spread (best/worst − 1) and this run's own probe are stored beside the
  figure in run.json (`spread_by_threads`, `probe_gflops_by_threads`,
  `readings_by_threads`, `warnings`).

With the cache off (``DLBENCH_CACHE=off``) or unwritable, the probe alone counts, as before.
Pure functions over the readings, plus reading and writing the file; no framework imports.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from suite.cache import cache_root

FILE_NAME = "peak.json"
RECHECK_BELOW = 0.85     # a probe under 85% of the kept best is measured again
RECHECK_S = 1.0          # the longer re-measurement, timed seconds
KEEP = 12                # readings kept per key
FORMAT = 1


def cache_file() -> Path | None:
    root = cache_root()
    return None if root is None else root / FILE_NAME


def machine_key(host: Mapping[str, Any], threads: int, cpus: list[int]) -> str:
    """The key of a thread count's readings: what the machine is and where the probe ran."""
    return json.dumps([FORMAT, host.get("cpu_model"), host.get("logical_cpus"),
                       host.get("governor"), host.get("turbo"),
                       sorted(int(c) for c in cpus), int(threads)])


def load(path: Path | None) -> dict[str, Any]:
    """The kept readings ({} when there is no file, or it does not parse)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path | None, data: dict[str, Any]) -> None:
    """Write the readings atomically; a failure only loses the memory, never the run."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".peak-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


def reused(keys: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, float] | None:
    """The kept best of every thread count, or None unless each has readings: what a run
    under ``DLBENCH_PEAK=cached`` uses instead of probing (the test suite's sweeps, which
    would otherwise measure the same machine's peak a hundred times)."""
    best = {t: max(readings_of(data, k), default=0.0) for t, k in keys.items()}
    return best if best and all(best.values()) else None


def readings_of(data: Mapping[str, Any], key: str) -> list[float]:
    entry = data.get(key)
    values = entry.get("readings") if isinstance(entry, dict) else None
    return [float(v) for v in values or [] if isinstance(v, (int, float)) and v > 0]


def spread(values: list[float]) -> float | None:
    """best / worst − 1 of the readings (None for fewer than two)."""
    return max(values) / min(values) - 1.0 if len(values) >= 2 else None


def reconcile(probe: Mapping[str, float], keys: Mapping[str, str], data: dict[str, Any],
              remeasure: Callable[[int], float | None]) -> dict[str, Any]:
    """This run's figures from its `probe` ({threads: GFLOP/s}) and the kept readings in
    `data` (updated in place with the new ones). `remeasure(threads)` measures one thread
    count again, longer. Returns the run.json fields: gflops_by_threads (what % of peak
    divides by), probe_gflops_by_threads, readings_by_threads, spread_by_threads, warnings."""
    used: dict[str, float] = {}
    probes: dict[str, list[float]] = {}
    kept: dict[str, list[float]] = {}
    spreads: dict[str, float] = {}
    warnings: list[str] = []
    for threads, reading in probe.items():
        key = keys[threads]
        before = readings_of(data, key)
        mine = [float(reading)]
        best_before = max(before, default=0.0)
        if best_before and mine[0] < RECHECK_BELOW * best_before:
            again = remeasure(int(threads))
            if again:
                mine.append(float(again))
            if max(mine) < RECHECK_BELOW * best_before:
                warnings.append(
                    f"the peak probe at {threads} thread(s) read "
                    f"{' and '.join(f'{v:.1f}' for v in mine)} GFLOP/s, "
                    f"{100 * (1 - max(mine) / best_before):.0f}% under this machine's best "
                    f"kept reading of {best_before:.1f} ({len(before)} readings): the "
                    f"machine is busy or slower than before; % of peak divides by "
                    f"{best_before:.1f}")
        readings = (before + [max(mine)])[-KEEP:]
        data[key] = {"readings": [round(v, 1) for v in readings], "updated": time.time()}
        used[threads] = round(max(max(mine), best_before), 1)
        probes[threads] = [round(v, 1) for v in mine]
        kept[threads] = [round(v, 1) for v in readings]
        s = spread(readings)
        if s is not None:
            spreads[threads] = round(s, 4)
    return {"gflops_by_threads": used, "probe_gflops_by_threads": probes,
            "readings_by_threads": kept, "spread_by_threads": spreads, "warnings": warnings}
