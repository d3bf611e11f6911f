"""CPU topology from /sys: sockets, physical cores, hyper-thread siblings, NUMA nodes;
and the core lists a point's threads are pinned to (CONTRACT §7, CPU placement).

The machine is read from the node's own files (`online`, the cpu*/topology files), never
from this process's CPU affinity: inside a Slurm task bound to its CPUs
(`TaskPlugin=task/affinity`) the affinity is that task's share, not the node. A Topology
is the part of the node placement may use (by default the CPUs this process may run on,
as a `taskset` or a container's cpuset allows; a Slurm job passes its job's CPUs), and
keeps the whole node (`whole()`, what fingerprints record) and this process's affinity
(`allowed`) as facts beside it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from suite.errors import UsageError

SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NODE = Path("/sys/devices/system/node")


def format_cpu_list(cpus: list[int]) -> str:
    """The kernel's list format of `cpus` (sorted): [0, 1, 2, 3, 8] -> "0-3,8"; "-" for none."""
    if not cpus:
        return "-"
    out, start, prev = [], cpus[0], cpus[0]
    for c in cpus[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(f"{start}-{prev}" if prev != start else f"{start}")
        if c is not None:
            start = prev = c
    return ",".join(out)


def parse_cpu_list(text: str) -> list[int]:
    """Parse the kernel's list format, e.g. "0-3,8,10-11"."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-")
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


@dataclass(frozen=True)
class Core:
    """One physical core: its socket, NUMA node and logical CPUs (first = primary thread)."""

    socket: int
    core_id: int
    node: int
    cpus: tuple[int, ...]


@dataclass
class Topology:
    """The machine's cores as the placement logic needs them."""

    cores: list[Core] = field(default_factory=list)
    nodes: dict[int, list[int]] = field(default_factory=dict)   # NUMA node -> logical CPUs
    allowed: tuple[int, ...] = ()        # this process's CPU affinity when read (a fact only)
    machine: Topology | None = None      # the whole node, where this is a part of it

    def whole(self) -> Topology:
        """The whole node this topology is a part of (itself when it is the whole)."""
        return self.machine or self

    def restricted(self, cpus: Iterable[int]) -> Topology:
        """The part of the node made of `cpus` (a core keeps those of its threads)."""
        keep = set(cpus)
        cores = [Core(c.socket, c.core_id, c.node, tuple(x for x in c.cpus if x in keep))
                 for c in self.cores if keep & set(c.cpus)]
        nodes = {n: [c for c in cs if c in keep] for n, cs in self.nodes.items()}
        return Topology(cores, nodes, self.allowed, self.whole())

    @property
    def logical_cpus(self) -> int:
        return sum(len(c.cpus) for c in self.cores)

    @property
    def physical_cores(self) -> int:
        return len(self.cores)

    @property
    def sockets(self) -> list[int]:
        return sorted({c.socket for c in self.cores})

    def sibling_map(self) -> dict[int, list[int]]:
        """Logical CPU -> its hyper-thread siblings (itself included)."""
        return {cpu: list(c.cpus) for c in self.cores for cpu in c.cpus}

    def node_of(self, cpu: int) -> int:
        for node, cpus in self.nodes.items():
            if cpu in cpus:
                return node
        return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def online_cpus(sys_cpu: Path = SYS_CPU, cpuinfo: Path = Path("/proc/cpuinfo")) -> list[int]:
    """The node's online logical CPUs: `online`, else the cpuN folders, else /proc/cpuinfo's
    processors, else os.cpu_count() - never this process's affinity."""
    text = _read(sys_cpu / "online")
    if text:
        return parse_cpu_list(text)
    found = sorted(int(d.name[3:]) for d in sys_cpu.glob("cpu[0-9]*") if d.name[3:].isdigit())
    if found:
        return found
    info = _read(cpuinfo) or ""
    found = [int(line.split(":")[1]) for line in info.splitlines()
             if line.startswith("processor") and line.split(":")[1].strip().isdigit()]
    return sorted(found) or list(range(os.cpu_count() or 1))


def affinity() -> list[int]:
    """The CPUs this process may run on now (its affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def read_topology(sys_cpu: Path = SYS_CPU, sys_node: Path = SYS_NODE,
                  cpus: Iterable[int] | None = None) -> Topology:
    """The node's topology (see the module docstring), restricted to `cpus` - by default
    the CPUs this process may run on; a Slurm job passes its job's CPUs on the node."""
    node = _read_node(sys_cpu, sys_node)
    view = set(node.allowed if cpus is None else cpus)
    if view >= {c for core in node.cores for c in core.cpus}:
        return node
    return node.restricted(view)


def _read_node(sys_cpu: Path, sys_node: Path) -> Topology:
    """Every online CPU of the node, by socket, core and NUMA node."""
    online = online_cpus(sys_cpu)
    allowed = tuple(sorted(set(affinity()) & set(online))) or tuple(online)
    nodes: dict[int, list[int]] = {}
    for d in sorted(sys_node.glob("node[0-9]*")):
        cpus = parse_cpu_list(_read(d / "cpulist") or "")
        nodes[int(d.name[4:])] = [c for c in cpus if c in online]
    if not nodes:
        nodes = {0: list(online)}
    by_core: dict[tuple[int, int], list[int]] = {}
    for cpu in online:
        topo = sys_cpu / f"cpu{cpu}" / "topology"
        socket = int(_read(topo / "physical_package_id") or 0)
        core_id = int(_read(topo / "core_id") or cpu)
        by_core.setdefault((socket, core_id), []).append(cpu)
    node_of = {cpu: n for n, cpus in nodes.items() for cpu in cpus}
    cores = [Core(s, c, node_of.get(cpus[0], 0), tuple(sorted(cpus)))
             for (s, c), cpus in sorted(by_core.items(), key=lambda kv: min(kv[1]))]
    return Topology(cores, nodes, allowed)


def core_list(topo: Topology, threads: int, mapping: str, ht: bool) -> list[int]:
    """Logical CPUs for `threads` threads.

    sequential: cores in order 0, 1, 2, ...; interleave: alternate sockets (core 0 of
    socket 0, core 0 of socket 1, ...). Without ht only each core's primary thread is used;
    with ht both siblings of a core are taken before moving on (threads fill siblings).
    """
    if mapping not in ("sequential", "interleave"):
        raise UsageError(f"unknown mapping {mapping!r}; valid: sequential, interleave")
    cores = list(topo.cores)
    if mapping == "interleave":
        per_socket = [[c for c in cores if c.socket == s] for s in topo.sockets]
        cores = [c for group in _zip_longest(per_socket) for c in group]
    cpus = [cpu for c in cores for cpu in (c.cpus if ht else c.cpus[:1])]
    if threads > len(cpus):
        what = "logical CPUs" if ht else "physical cores"
        raise UsageError(f"{threads} threads exceed the {len(cpus)} {what} available "
                         f"(valid: 1-{len(cpus)})")
    return cpus[:threads]


def rank_core_lists(topo: Topology, threads: int, ranks: int, mapping: str,
                    ht: bool) -> list[list[int]]:
    """Disjoint logical-CPU lists for `ranks` processes of `threads` threads each on this
    node (data-parallel training): the first `threads x ranks` CPUs of the mapping, cut
    in order, so that rank r never shares a core with another rank."""
    if ranks < 1:
        raise UsageError(f"{ranks} ranks per node: must be at least 1")
    if ranks == 1:
        return [core_list(topo, threads, mapping, ht)]
    what = "logical CPUs" if ht else "physical cores"
    available = sum(len(c.cpus) if ht else 1 for c in topo.cores)
    if threads * ranks > available:
        raise UsageError(f"{ranks} ranks x {threads} threads need {threads * ranks} {what}; "
                         f"this node has {available} (valid: ranks x threads <= {available})")
    cpus = core_list(topo, threads * ranks, mapping, ht)
    return [cpus[r * threads:(r + 1) * threads] for r in range(ranks)]


def _zip_longest(groups: list[list[Core]]) -> list[list[Core]]:
    width = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(width)]


def memory_node(topo: Topology, cpus: list[int], memory: str) -> int:
    """The NUMA node to bind memory to: the cores' node (local) or another one (remote)."""
    local = topo.node_of(cpus[0]) if cpus else 0
    if memory == "local":
        return local
    others = [n for n in sorted(topo.nodes) if n != local and topo.nodes[n] is not None]
    if not others:
        raise UsageError("--memory remote needs a second NUMA node; this machine has "
                         f"{len(topo.nodes)} (valid here: local)")
    return others[0]


def spare_cpus(topo: Topology, cpus: list[int]) -> list[int]:
    """A CPU for the harness's own thread (the memory sampler) off the measured cores: the
    primary thread of the last core none of `cpus` is on, on their NUMA node when one is
    free there; [] when every core holds a measured CPU."""
    free = [c for c in topo.cores if not set(c.cpus) & set(cpus)]
    if not free:
        return []
    node = topo.node_of(cpus[0]) if cpus else 0
    return [([c for c in free if c.node == node] or free)[-1].cpus[0]]


def has_hyperthreading(topo: Topology) -> bool:
    return any(len(c.cpus) > 1 for c in topo.cores)


def instance_core_sets(topo: Topology, instances: int, threads: int, ht: bool = False,
                       straddle: bool = False) -> list[list[int]]:
    """Disjoint CPU lists for `instances` pinned instances of `threads` threads each.

    Each instance takes consecutive cores of one NUMA node (the node with the most free
    cores, so instances spread over the nodes and each one's memory stays local); with
    `straddle` an instance that fits in no node's free cores takes cores across nodes.
    Without ht only each core's primary thread is used; with ht siblings fill first.
    """
    if instances < 1 or threads < 1:
        raise UsageError(f"instances ({instances}) and threads ({threads}) must be >= 1")
    free = {node: [cpu for c in topo.cores if c.node == node
                   for cpu in (c.cpus if ht else c.cpus[:1])] for node in sorted(topo.nodes)}
    total = sum(len(cpus) for cpus in free.values())
    what = "logical CPUs" if ht else "physical cores"
    if instances * threads > total:
        raise UsageError(f"{instances} instances x {threads} threads need "
                         f"{instances * threads} {what}; {total} are available "
                         f"(valid: instances x threads <= {total})")
    sets = []
    for _ in range(instances):
        node = max(free, key=lambda n: (len(free[n]), -n))
        if len(free[node]) >= threads:
            sets.append(free[node][:threads])
            free[node] = free[node][threads:]
        elif straddle:
            pooled = [cpu for n in sorted(free) for cpu in free[n]][:threads]
            sets.append(pooled)
            free = {n: [c for c in cpus if c not in pooled] for n, cpus in free.items()}
        else:
            sizes = ", ".join(f"node {n}: {len(topo.nodes[n])}" for n in sorted(topo.nodes))
            raise UsageError(f"an instance of {threads} threads does not fit in one NUMA "
                             f"node's free {what} ({sizes} CPUs); use fewer threads per "
                             f"instance or --straddle-numa")
    return sets


def instance_shapes(topo: Topology, ht: bool = False) -> list[tuple[int, int]]:
    """The (instances, threads) splits that use every core without straddling a NUMA
    node, plus one instance on all cores (the baseline): threads per instance are the
    divisors of the smallest node's core count, e.g. 1x2 and 2x1 on 2 cores, and on
    2 nodes of 64 cores 2x64, 4x32, ..., 128x1 and 1x128."""
    per_node = [sum(len(c.cpus) if ht else 1 for c in topo.cores if c.node == n)
                for n in sorted(topo.nodes)]
    per_node = [n for n in per_node if n > 0] or [topo.physical_cores]
    total = sum(per_node)
    smallest = min(per_node)
    shapes = {(1, total)}
    for t in range(1, smallest + 1):
        if smallest % t == 0:
            shapes.add((sum(n // t for n in per_node), t))
    return sorted(shapes, key=lambda s: (s[0], -s[1]))


def reserve_cores(topo: Topology, count: int) -> tuple[Topology, list[int]]:
    """The topology without its last `count` physical cores, and those cores' CPUs: a
    place for the load generator and the dispatchers, off the instances' cores."""
    if count < 0 or count >= topo.physical_cores:
        raise UsageError(f"--harness-cores {count}: this machine has {topo.physical_cores} "
                         f"physical cores (valid: 0-{topo.physical_cores - 1})")
    if count == 0:
        return topo, []
    kept, spare = topo.cores[:-count], topo.cores[-count:]
    cpus = [cpu for c in spare for cpu in c.cpus]
    nodes = {n: [c for c in cs if c not in cpus] for n, cs in topo.nodes.items()}
    return Topology(kept, {n: cs for n, cs in nodes.items() if cs}, topo.allowed,
                    topo.whole()), cpus
