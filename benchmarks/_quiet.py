"""How much of the measured cores' time other processes took during a timed block.

Benchmarks that compare step times of a few percent are meaningless while another process
runs on the measured cores: a pinned OpenMP team slows by several times when it shares its
cores. The kernel's per-CPU busy time (/proc/stat) minus this process's own CPU time
(/proc/self/stat) over a block is what others used; blocks where that share is high are
left out of the comparison. Resolution: one clock tick (10 ms) per CPU.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def busy_ticks(cpus: list[int]) -> int:
    """Non-idle ticks (user, nice, system, irq, softirq, steal) of `cpus` since boot."""
    wanted = {f"cpu{c}" for c in cpus}
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name in wanted:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                total += user + nice + system + irq + softirq + steal
    return total


def own_ticks() -> int:
    """User + system ticks of every thread of this process."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15 of stat)


@dataclass
class Block:
    """A window over which others' use of the measured cores is counted."""

    cpus: list[int]
    busy: int = 0
    own: int = 0
    start_s: float = 0.0
    foreign_share: float = 0.0

    def __enter__(self) -> "Block":
        self.busy, self.own, self.start_s = busy_ticks(self.cpus), own_ticks(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        ticks = (time.monotonic() - self.start_s) * TICKS_PER_S * len(self.cpus)
        others = (busy_ticks(self.cpus) - self.busy) - (own_ticks() - self.own)
        self.foreign_share = max(0.0, others / ticks) if ticks > 0 else 0.0
