"""Process-level levers on the spread between a point's worker processes, as data.

One process is one draw of process-level noise (CONTRACT §7): where its heap, stack and
libraries land, which pages are huge, how malloc splits its arenas. A lever fixes one of
those draws for every worker. It may narrow the spread between a point's processes; it
must never move the figure itself (benchmarks/spread_levers.py measures both, interleaved;
docs/harness.md has its table). The runner asks `worker_launch` for the environment and
the pre-exec function of each worker it starts; the levers on by default are those that
measurably helped on the machine the docs quote.

The sampler's core is a placement, not a launch setting: the runner already gives the
memory sampler's thread a spare core (`sampler_cpus`), and the benchmark measures that too.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from suite.errors import UsageError

ADDR_NO_RANDOMIZE = 0x0040000    # <linux/personality.h>
PERSONALITY_QUERY = 0xFFFFFFFF
PR_SET_THP_DISABLE = 41          # <linux/prctl.h>
TUNABLES_ENV = "GLIBC_TUNABLES"
THP_FILES = ("enabled", "defrag")
THP_DIR = Path("/sys/kernel/mm/transparent_hugepage")


@dataclass(frozen=True)
class Lever:
    """One process-level setting of a worker: what it sets, and whether it is on by default."""

    name: str
    what: str                                   # one line, for tables and run.json
    env: tuple[tuple[str, str], ...] = ()       # environment variables it sets
    tunables: tuple[str, ...] = ()              # glibc tunables ("glibc.malloc.x=v")
    personality: int = 0                        # personality(2) flags it adds before exec
    thp_disable: bool = False                   # prctl(PR_SET_THP_DISABLE) before exec
    default: bool = False                       # on unless the caller chooses the levers


# The defaults: none. On this 2-core machine no lever lowered the spread between processes
# measurably (docs/harness.md, "Levers on the spread between processes"), so none is on.
LEVERS: tuple[Lever, ...] = (
    Lever("aslr_off", "address-space layout randomisation off (personality ADDR_NO_RANDOMIZE)",
          personality=ADDR_NO_RANDOMIZE),
    Lever("hashseed", "PYTHONHASHSEED=0: the same str/bytes hashes, dict and set layouts",
          env=(("PYTHONHASHSEED", "0"),)),
    Lever("thp_malloc", "malloc asks for transparent huge pages (glibc.malloc.hugetlb=1)",
          tunables=("glibc.malloc.hugetlb=1",)),
    Lever("thp_off", "no transparent huge pages in the worker (prctl PR_SET_THP_DISABLE)",
          thp_disable=True),
    Lever("arena_one", "one malloc arena for all threads (glibc.malloc.arena_max=1)",
          tunables=("glibc.malloc.arena_max=1",)),
    Lever("malloc_static", "fixed malloc mmap/trim thresholds of 32 MiB (no dynamic threshold)",
          env=(("MALLOC_MMAP_THRESHOLD_", str(32 << 20)),
               ("MALLOC_TRIM_THRESHOLD_", str(32 << 20)))),
)
LEVER_NAMES: tuple[str, ...] = tuple(lever.name for lever in LEVERS)


def default_levers() -> tuple[Lever, ...]:
    """The levers every worker gets unless the caller passes others."""
    return tuple(lever for lever in LEVERS if lever.default)


def levers_by_name(names: Iterable[str]) -> tuple[Lever, ...]:
    """The levers called `names`, in LEVERS' order; UsageError names an unknown one."""
    wanted = set(names)
    unknown = sorted(wanted - set(LEVER_NAMES))
    if unknown:
        raise UsageError(f"unknown lever(s) {', '.join(unknown)}; known: {', '.join(LEVER_NAMES)}")
    return tuple(lever for lever in LEVERS if lever.name in wanted)


def lever_env(levers: Iterable[Lever], inherited: str | None = None) -> dict[str, str]:
    """The environment variables the levers add. Their glibc tunables go first in
    GLIBC_TUNABLES and the `inherited` value (the user's own) last, so the user's win."""
    env: dict[str, str] = {}
    tunables: list[str] = []
    for lever in levers:
        env.update(lever.env)
        tunables.extend(lever.tunables)
    if tunables:
        env[TUNABLES_ENV] = ":".join(tunables + ([inherited] if inherited else []))
    return env


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def preexec(personality: int, thp_disable: bool) -> Callable[[], None]:
    """A function for `subprocess.Popen(preexec_fn=...)`: sets the personality flags and
    the THP switch in the child between fork and exec (both survive the exec). A call
    that the kernel or a seccomp profile refuses leaves that setting as it was: the
    worker still runs, and `applied()` in the worker tells what took effect."""
    libc = _libc()      # loaded here: between fork and exec only calls are made

    def apply() -> None:
        if personality:
            current = libc.personality(PERSONALITY_QUERY)
            if current != -1:
                libc.personality(current | personality)
        if thp_disable:
            libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    return apply


def worker_launch(levers: Iterable[Lever] | None = None
                  ) -> tuple[dict[str, str], Callable[[], None] | None]:
    """(environment additions, pre-exec function or None) for a worker started with
    `levers` (None: `default_levers()`)."""
    chosen = tuple(default_levers() if levers is None else levers)
    env = lever_env(chosen, os.environ.get(TUNABLES_ENV))
    personality = 0
    for lever in chosen:
        personality |= lever.personality
    thp_disable = any(lever.thp_disable for lever in chosen)
    if not personality and not thp_disable:
        return env, None
    return env, preexec(personality, thp_disable)


def applied() -> dict[str, object]:
    """What this process runs with: ASLR (from its personality), THP disabled or not (from
    /proc/self/status), PYTHONHASHSEED and GLIBC_TUNABLES; for a worker's record."""
    found: dict[str, object] = {"hashseed": os.environ.get("PYTHONHASHSEED"),
                                "glibc_tunables": os.environ.get(TUNABLES_ENV)}
    try:
        pers = int(Path("/proc/self/personality").read_text(), 16)
        found["aslr"] = not pers & ADDR_NO_RANDOMIZE
    except (OSError, ValueError):
        found["aslr"] = None
    try:
        status = Path("/proc/self/status").read_text()
        found["thp_enabled"] = "THP_enabled:\t0" not in status if "THP_enabled:" in status \
            else None
    except OSError:
        found["thp_enabled"] = None
    return found


def system_memory_settings() -> dict[str, str | None]:
    """The machine-wide settings the levers cannot change: transparent huge pages'
    `enabled` and `defrag` modes (the bracketed choice) and kernel.randomize_va_space."""
    found: dict[str, str | None] = {}
    for name in THP_FILES:
        try:
            text = (THP_DIR / name).read_text()
            found[f"thp_{name}"] = text[text.index("[") + 1:text.index("]")]
        except (OSError, ValueError):
            found[f"thp_{name}"] = None
    try:
        found["randomize_va_space"] = Path("/proc/sys/kernel/randomize_va_space").read_text().strip()
    except OSError:
        found["randomize_va_space"] = None
    return found
