"""Console progress for sweeps: a bar with the current point, elapsed time and time left,
a line per finished point (per process in an interleaved run, with its round), a line per
round with the time left, and a final summary. Part of the CLI layer (it prints)."""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

from suite import stats
from suite.host_peak import point_peak_record
from suite.peak import percent_of_peak, point_peak_gflops
from suite.spec import STATUSES, Measurement, PointSpec


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def point_label(spec: PointSpec) -> str:
    """The spec's label, with its dtype where it is not float32 (a sweep of several dtypes
    would otherwise print identical lines)."""
    return spec.label() + ("" if spec.dtype == "float32" else f" {spec.dtype}")


def describe(m: Measurement, peak: dict | None = None) -> str:
    """One line for a finished point: its figures with their 95% CIs, derived from the raw
    samples by `stats.point_summary` and rounded by `stats.ci_text`, as in the tables;
    its achieved GFLOP/s and, with the run's `peak` (`suite.peak`), the % of it."""
    if m.status != "ok":
        return f"{m.status:<7} {point_label(m.spec)}: {m.message}"
    try:
        s = stats.point_summary(m)
    except ValueError as e:
        return f"ok      {point_label(m.spec)}: samples unusable: {e}"
    mem = m.memory.get("peak_device_mib") or m.memory.get("peak_rss_mib", 0.0)
    flag = "" if m.precision_reached else " (precision not reached)"
    processes = f", {s.processes} processes" if s.processes > 1 else ""
    return (f"ok      {point_label(m.spec)}: "
            f"{stats.ci_text(s.median_ms, s.ci_low_ms, s.ci_high_ms)} ms median, "
            f"{stats.ci_text(s.items_per_second, s.items_per_second_ci_low, s.items_per_second_ci_high)}"
            f" items/s (95% CI{processes}){_gflops(s, m, peak)}, peak {mem:.0f} MiB{flag}")


def _gflops(s: stats.Summary, m: Measurement, peak: dict | None) -> str:
    """", 41.2 GFLOP/s (16% of peak)": the % where the run measured the peak the point is
    divided by (`suite.peak.point_peak_gflops`), named on a GPU ("of the TF32 tensor-core
    peak"); where the run has a peak but none for this point's dtype or device, the reason
    instead (a CPU float32 point without a figure at its thread count gets neither). A
    point that ran on a Slurm node is divided by its node's peak (`suite.host_peak`)."""
    if not s.gflops_per_second:
        return ""
    peak = point_peak_record(peak, m.meta)
    figure, basis = point_peak_gflops(peak, m.spec)
    percent = percent_of_peak(s.gflops_per_second, figure)
    cpu_float32 = m.spec.device == "cpu" and m.spec.dtype == "float32"
    if percent:
        share = f" ({stats.significant(percent, 2)}% of {'peak' if cpu_float32 else basis})"
    else:
        share = f" ({basis})" if peak is not None and not cpu_float32 else ""
    return f", {stats.significant(s.gflops_per_second)} GFLOP/s{share}"


class ConsoleReporter:
    """Writes progress to `stream` (stderr by default); `quiet` keeps only the summary."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None,
                 peak: dict | None = None) -> None:
        self.quiet = quiet
        self.peak = peak
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = 0
        self.done = 0
        self.measured = 0
        self.started = time.monotonic()
        self.round: tuple[int, int] | None = None     # (round, --processes) when interleaved

    def _write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self, total: int, resumed: int) -> None:
        """`total` points to measure (process measurements in an interleaved run), of
        which `resumed` are stored already."""
        self.total = total
        self.done = resumed
        self.started = time.monotonic()
        if not self.quiet and resumed:
            self._write(f"resuming: {resumed} of {total} already stored")

    def round_started(self, round_no: int, rounds: int, points: int) -> None:
        """An interleaved round begins (suite.schedule): `points` processes, one a point;
        rounds past `rounds` (--processes) are extra ones for imprecise points."""
        self.round = (round_no, rounds)
        self.total = max(self.total, self.done + points)
        if self.quiet:
            return
        what = f"round {round_no} of {rounds}" if round_no <= rounds else \
            f"extra round {round_no} (past --processes {rounds})"
        self._write(f"{what}: {points} points, each in a fresh worker{self._left(', ~')}")

    def _left(self, prefix: str) -> str:
        """The time left, from the measured points so far ("" before the first)."""
        if not self.measured:
            return ""
        # measured points so far over the time they took (with --processes a point
        # starts once per process, so time since the last start would undercount)
        per_point = (time.monotonic() - self.started) / self.measured
        return f"{prefix}{_clock(per_point * max(0, self.total - self.done))} left"

    def _round_text(self) -> str:
        if not self.round:
            return ""
        number, rounds = self.round
        return f", round {number} of {rounds}" if number <= rounds else \
            f", extra round {number}"

    def point_started(self, spec: PointSpec) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self.started
        width = 24
        filled = int(width * self.done / max(1, self.total))
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
        text = (f"{bar}{self._round_text()} {_clock(elapsed)} elapsed{self._left(', ~')} | "
                f"{point_label(spec)}")
        if self.tty:
            self.stream.write("\r\033[K" + text[:200])
            self.stream.flush()

    def point_finished(self, m: Measurement) -> None:
        self.done += 1
        if m.status not in ("skipped",) and not m.message.startswith("not run"):
            self.measured += 1
        if not self.quiet:
            self._write(f"[{self.done}/{self.total}{self._round_text()}] "
                        f"{describe(m, self.peak)}")

    def note(self, text: str) -> None:
        """A line about where points run (e.g. a Slurm job's state changing)."""
        if not self.quiet:
            self._write(text)

    def finish(self, measurements: list[Measurement], run_dir: Path) -> None:
        counts = Counter(m.status for m in measurements)
        parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        self._write(f"finished {len(measurements)} points in "
                    f"{_clock(time.monotonic() - self.started)}: {parts or 'nothing to do'}")
        self._write(f"results: {run_dir}")
