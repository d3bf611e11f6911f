"""Did the kernel's out-of-memory killer end a worker? Its kill counter in our memory
cgroup, read before a worker starts and after it died, tells a kernel OOM kill from a
user's `kill -9` (both are a SIGKILL to the worker).

cgroup v2 counts kills in `memory.events`, v1 in `memory.oom_control`; both count the
cgroup's descendants, so a worker started in our cgroup (or below it) is covered. Where no
counter is readable the cause stays unknown and is reported as such.
"""
from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _counter_files(proc_cgroup: Path, root: Path) -> list[Path]:
    """Candidate counter files for the cgroup named in /proc/<pid>/cgroup, most specific first."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    files = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        rel = path.strip().lstrip("/")
        if "memory" in controllers.split(","):             # cgroup v1 memory controller
            files += [root / "memory" / rel / "memory.oom_control",
                      root / "memory" / "memory.oom_control"]
        elif hierarchy == "0" and not controllers:          # the cgroup v2 hierarchy
            files += [root / rel / "memory.events", root / "unified" / rel / "memory.events"]
    return files


def oom_kill_count(proc_cgroup: Path = Path("/proc/self/cgroup"),
                   root: Path = CGROUP_ROOT) -> int | None:
    """Processes of this cgroup killed by an OOM killer so far; None where not readable."""
    for path in _counter_files(proc_cgroup, root):
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None
