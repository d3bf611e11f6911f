"""What a GPU point's figures are: how its device time and its memory were taken.

The notes go wherever GPU figures are shown (the training tables, the cross-framework
tables, the report page), from the frame's `device_timing` and `memory_source` columns
(`suite.report.frames`); CPU points get none.
"""
from __future__ import annotations

import pandas as pd

TIMING_NOTES = {
    "cuda-events": "CUDA events on the framework's stream give each step's latency; "
                   "throughput is Σ items / Σ wall time of windows of steps with one "
                   "synchronisation per window, so steps overlap as in a real loop",
    "host-sync": "host clock around each step followed by a device synchronisation (the "
                 "framework exposes no CUDA stream to record events on): latency includes "
                 "launch and synchronisation, and steps never overlap",
}
UNRECORDED_TIMING = ("not recorded with the points (stored by an older dlbench: CUDA events "
                     "with a synchronisation after every step)")
MEMORY_NOTES = {
    "process device": "the process's peak device memory (NVML per process); the "
                      "device-wide used memory is in points.csv (device_used_mib)",
    "device-wide": "the device-wide used memory: NVML could not attribute memory to the "
                   "process here (e.g. inside a container), so anything else on the GPU "
                   "counts too",
}
ALLOCATOR_TITLE = "Framework allocator peaks (MiB)"
ALLOCATOR_LINE = ("cells: the framework allocator's own peaks (the names its adapter "
                  "gives), which the memory table's figure includes")


def gpu_notes(points: pd.DataFrame) -> list[str]:
    """"GPU timing: ..." and "GPU memory: ..." for the measured GPU points among `points`
    (one note per way, naming the frameworks when they differ); [] without GPU points."""
    gpu = points[(points["device"] == "cuda") & (points["status"] == "ok")]
    if gpu.empty:
        return []
    timing = gpu["device_timing"].map(lambda v: TIMING_NOTES.get(v, UNRECORDED_TIMING))
    memory = gpu["memory_source"].map(lambda v: MEMORY_NOTES.get(v, "not recorded"))
    return _notes("GPU timing", timing, gpu["framework"]) + \
        _notes("GPU memory", memory, gpu["framework"])


def _notes(label: str, texts: pd.Series, frameworks: pd.Series) -> list[str]:
    """One line per distinct text, prefixed with its frameworks when there are several."""
    distinct = list(dict.fromkeys(texts))
    if len(distinct) == 1:
        return [f"{label}: {distinct[0]}"]
    return [f"{label} ({', '.join(dict.fromkeys(frameworks[texts == text]))}): {text}"
            for text in distinct]
