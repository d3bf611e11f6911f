"""TensorFlow's collector: `tf.profiler.experimental` traces the window into an XSpace
(`<logdir>/plugins/profile/<run>/<host>.xplane.pb`), and the op statistics come from it.

TensorFlow 2.21 has no public function that reads an XSpace back. The converter that
TensorBoard's profile plugin runs on it ships inside TensorFlow:
`tensorflow.python.profiler.internal._pywrap_profiler_plugin.xspace_to_tools_data(paths,
"framework_op_stats", {})` returns the "TensorFlow Stats" tables as JSON (Google
DataTable): one row per op with its type, host or device, occurrences and total self time
in µs. We sum the self times per op type (on a GPU the device's rows where there are any),
skipping the plugin's "IDLE" row. The op's name scope is kept in front of its type
("gradient_tape/moments/Sub", numbered copies `moments_3` folded into `moments`), so the
class tables can tell batch normalization (`tf.nn.moments`) and the SGD update (the
adapter's `sgd_update` scope) from other elementwise ops; eager ops have no scope. The host
tracer runs at level 1, the ops' own events: the op statistics are whole at that level, and
level 2's extra events cost more (docs/profiling.md).

Where that private module is missing or fails (another TensorFlow version), or its tables
hold no op (eager execution, `--opts none`: TF 2.21's op statistics on a CPU see the ops of
tf.function graphs only), the profile is `unavailable` with the reason; the timing is
unaffected.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from suite.profiling.breakdown import OpTime
from suite.profiling.collectors import CollectorDefaults

TOOL = "framework_op_stats"
IDLE = "IDLE"


class TensorFlowCollector(CollectorDefaults):
    framework = "tensorflow"
    profiler = ("tf.profiler.experimental trace, op statistics from the xplane "
                "(TensorBoard's framework_op_stats converter)")

    def __init__(self) -> None:
        self._workdir: Path | None = None
        self._cuda = False
        self._windows = 0

    def start(self, runnable: Any, workdir: Path) -> None:
        import tensorflow as tf
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin  # noqa: F401
        self._windows += 1   # a fresh logdir per window: the xplanes of earlier ones stay
        self._workdir = workdir / f"tf-{self._windows}"
        self._cuda = getattr(runnable, "_device", "") == "/GPU:0"
        options = tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=1, python_tracer_level=0, device_tracer_level=int(self._cuda))
        tf.profiler.experimental.start(str(self._workdir), options=options)

    def stop(self, runnable: Any, steps: int) -> tuple[list[OpTime], str]:
        import tensorflow as tf
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
        tf.profiler.experimental.stop()
        paths = sorted(str(p) for p in self._workdir.rglob("*.xplane.pb"))
        if not paths:
            raise RuntimeError(f"tf.profiler wrote no .xplane.pb under {self._workdir}")
        data, ok = plugin.xspace_to_tools_data(paths, TOOL, {})
        if not ok:
            raise RuntimeError(f"xspace_to_tools_data({TOOL}) failed: {data!r:.200}")
        tables = json.loads(data if isinstance(data, str) else data.decode())
        ops, basis = op_stats_times(tables, device=self._cuda)
        if not ops:   # seen for eager execution (`--opts none`) with TF 2.21 on a CPU
            raise RuntimeError("TensorFlow's op statistics hold no op of the window (its "
                               "framework_op_stats see ops run by tf.function graphs, not "
                               "eager ones)")
        return ops, basis


def op_stats_times(tables: Any, device: bool = False) -> tuple[list[OpTime], str]:
    """The op times of the framework_op_stats tables (the first: with the IDLE row, which is
    skipped): the device's rows when asked and present, else the host's."""
    table = tables[0] if isinstance(tables, list) else tables
    columns = [c["id"] for c in table["cols"]]
    rows = [dict(zip(columns, (cell.get("v") if cell else None for cell in r["c"])))
            for r in table["rows"]]
    rows = [r for r in rows if r.get("type") != IDLE]
    where = "Device" if device and any(r.get("host_or_device") == "Device" for r in rows) \
        else "Host"
    return [OpTime(scoped_type(str(r.get("operation") or ""), str(r["type"])),
                   float(r.get("total_self_time") or 0.0), int(r.get("occurrences") or 0))
            for r in rows if r.get("host_or_device") == where], where.lower()


def scoped_type(operation: str, op_type: str) -> str:
    """"gradient_tape/moments_17/sub" of type Sub -> "gradient_tape/moments/Sub": the op's
    scope without copy numbers, then its type."""
    scope = operation.rpartition("/")[0]
    scope = re.sub(r"_\d+(?=/|$)", "", scope)
    return f"{scope}/{op_type}" if scope else op_type
