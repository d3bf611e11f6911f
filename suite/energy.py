"""Energy of a point's timed loop from a hardware meter (CONTRACT §18); never an estimate.

Two meters, both cumulative counters read before and after the timed loop:

- `nvml_counter` (device "cuda"): NVML's total-energy counter of the whole board
  (`nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver loaded; Volta and
  later). The driver refreshes it only every `NVML_UPDATE_S` (undocumented; 100 ms
  measured on an H200 with driver 580), so a region shorter than `PRECISE_UPDATES`
  updates (1 s) is marked imprecise, and one over which it did not move gives no figure;
  an idle baseline of the default 0.5 s is marked imprecise there too.
- `rapl` (device "cpu"): the package zones `intel-rapl:N` under /sys/class/powercap (not
  their `intel-rapl:N:M` subzones, which are parts of a package and would count twice,
  nor a top-level "psys" zone, which contains the packages). `energy_uj` wraps at
  `max_energy_range_uj`; a reading below the previous one adds the range (one wrap per
  reading at most: at 200 W that is one reading every ~20 minutes). The counter is
  refreshed about every millisecond. Since Linux 5.10 `energy_uj` is readable by root
  only, so most unprivileged runs say `unavailable`.

Everything else is `unavailable`, with the reason. An idle baseline measured just before
the loop (`idle_baseline`) gives the net figures: the energy above what the idle machine
draws anyway.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

NVML_UPDATE_S = 0.1      # NVML's energy counter: every 100 ms on an H200 (driver 580)
RAPL_UPDATE_S = 0.001    # RAPL's energy status is updated about every millisecond
PRECISE_UPDATES = 10     # a region under this many counter updates is marked imprecise
POWERCAP = Path("/sys/class/powercap")
NO_RAPL = "no readable RAPL counters under {root} (energy_uj missing or not readable)"
RAPL_SOURCE = "CPU packages (RAPL)"
_PACKAGE_ZONE = re.compile(r"intel-rapl:(\d+)")


class Meter(Protocol):
    """A cumulative energy counter and what it measures."""

    method: str      # "nvml_counter" | "rapl" | "unavailable"
    source: str      # what it measures, in words
    reason: str      # why it is unavailable ("" when available)
    update_s: float  # how often the counter moves (its resolution in time)
    available: bool

    def joules(self) -> float | None:
        """Joules counted since the meter opened (wrap-around handled); None when the
        counter could not be read."""


@dataclass
class UnavailableMeter:
    """No meter: says why."""

    reason: str
    source: str = "none"
    method: str = "unavailable"
    update_s: float = 0.0
    available: bool = False

    def joules(self) -> float | None:
        return None


@dataclass
class NvmlMeter:
    """NVML's total-energy counter of one CUDA device (millijoules, never wraps)."""

    device_index: int
    first_mj: int                 # the reading when the meter opened
    source: str = ""
    method: str = "nvml_counter"
    reason: str = ""
    update_s: float = NVML_UPDATE_S
    available: bool = True

    def joules(self) -> float | None:
        from suite import _native
        millijoules, _ = _native.nvml_total_energy_mj(self.device_index)
        return None if millijoules < 0 else (millijoules - self.first_mj) / 1000.0


@dataclass
class RaplZone:
    """One package zone: its directory, name and wrap-around range."""

    path: Path
    name: str
    range_uj: int


def unwrapped_delta_uj(previous_uj: int, current_uj: int, range_uj: int) -> int:
    """Microjoules between two readings of a counter that wraps at `range_uj`."""
    return current_uj - previous_uj if current_uj >= previous_uj \
        else current_uj + range_uj - previous_uj


@dataclass
class RaplMeter:
    """The sum of the RAPL package zones' counters, unwrapped reading by reading."""

    zones: list[RaplZone]
    last_uj: list[int]            # each zone's previous raw reading
    source: str = ""
    total_uj: int = 0             # unwrapped microjoules since the meter opened
    method: str = "rapl"
    reason: str = ""
    update_s: float = RAPL_UPDATE_S
    available: bool = True

    def joules(self) -> float | None:
        try:
            raw = [_read_int(z.path / "energy_uj") for z in self.zones]
        except (OSError, ValueError):
            return None
        for i, (zone, value) in enumerate(zip(self.zones, raw)):
            self.total_uj += unwrapped_delta_uj(self.last_uj[i], value, zone.range_uj)
            self.last_uj[i] = value
        return self.total_uj / 1e6


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _zone_name(path: Path) -> str:
    try:
        return (path / "name").read_text().strip()
    except OSError:
        return ""


def package_zones(root: Path = POWERCAP) -> tuple[list[Path], list[str]]:
    """The top-level RAPL zones that are CPU packages, in index order, and the names of the
    top-level ones left out (e.g. "psys", which contains the packages)."""
    try:
        entries = [p for p in root.iterdir() if _PACKAGE_ZONE.fullmatch(p.name)]
    except OSError:
        return [], []
    entries.sort(key=lambda p: int(p.name.split(":")[1]))
    names = {p: _zone_name(p) for p in entries}
    keep = [p for p in entries if names[p].startswith("package") or not names[p]]
    return keep, [f"{p.name} ({names[p]})" for p in entries if p not in keep]


def open_rapl(root: Path = POWERCAP) -> Meter:
    """A RAPL meter over every package zone, or why there is none; every zone must be
    readable (a partial sum would undercount)."""
    paths, skipped = package_zones(root)
    if not paths:
        return UnavailableMeter(NO_RAPL.format(root=root), RAPL_SOURCE)
    zones, first = [], []
    for path in paths:
        try:
            first.append(_read_int(path / "energy_uj"))
        except (OSError, ValueError) as e:
            return UnavailableMeter(NO_RAPL.format(root=root) + f": {path.name}: {e}",
                                    RAPL_SOURCE)
        try:
            zones.append(RaplZone(path, _zone_name(path), _read_int(path / "max_energy_range_uj")))
        except (OSError, ValueError) as e:
            return UnavailableMeter(f"RAPL {path.name}: max_energy_range_uj not readable, so "
                                    f"wrap-around cannot be handled: {e}", RAPL_SOURCE)
    source = "CPU packages: RAPL zones " + ", ".join(f"{z.path.name} ({z.name})" for z in zones)
    if skipped:
        source += "; not counted: " + ", ".join(skipped)
    return RaplMeter(zones, first, source)


def open_nvml(device_index: int = 0) -> Meter:
    """NVML's energy counter of CUDA device `device_index`, or why it cannot be read."""
    source = f"CUDA device {device_index}: whole board (NVML total-energy counter)"
    try:
        from suite import _native
    except ImportError as e:
        return UnavailableMeter(f"native extension not built: {e}", source)
    if not hasattr(_native, "nvml_total_energy_mj"):
        return UnavailableMeter("native extension built without the NVML energy counter",
                                source)
    millijoules, reason = _native.nvml_total_energy_mj(device_index)
    if millijoules < 0:
        return UnavailableMeter(reason or "NVML energy counter not readable", source)
    return NvmlMeter(device_index, millijoules, source)


def open_meter(device: str, device_index: int = 0, powercap_root: Path = POWERCAP) -> Meter:
    """The meter of a point's device: NVML for "cuda", RAPL for "cpu"."""
    if device == "cuda":
        return open_nvml(device_index)
    if device == "cpu":
        return open_rapl(powercap_root)
    return UnavailableMeter(f"no energy meter for device {device!r}")


@dataclass(frozen=True)
class IdleBaseline:
    """The power the idle machine draws, read just before a point's loop."""

    watts: float | None     # None: not measured, or no figure (see note)
    seconds: float
    note: str = ""


def idle_baseline(meter: Meter, seconds: float = 0.5,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.perf_counter) -> IdleBaseline:
    """Average watts over `seconds` of sleep: the caller has synchronised the device."""
    if not meter.available or seconds <= 0:
        return IdleBaseline(None, 0.0, "idle baseline not measured")
    start_s, start_j = clock(), meter.joules()
    sleep(seconds)
    end_j, end_s = meter.joules(), clock()
    elapsed = end_s - start_s
    if start_j is None or end_j is None or elapsed <= 0:
        return IdleBaseline(None, max(elapsed, 0.0), "idle baseline: counter not readable")
    if end_j <= start_j:
        return IdleBaseline(None, elapsed, f"idle baseline: the counter did not advance in "
                            f"{elapsed:.3g} s (it moves every ~{meter.update_s:g} s)")
    note = "" if elapsed >= PRECISE_UPDATES * meter.update_s else \
        f"idle baseline imprecise: {elapsed:.3g} s is under {PRECISE_UPDATES} counter updates"
    return IdleBaseline((end_j - start_j) / elapsed, elapsed, note)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def energy_record(method: str, source: str, joules: float | None, seconds: float,
                  items: int, idle_watts: float | None = None, idle_seconds: float = 0.0,
                  update_s: float = 0.0, reason: str = "",
                  notes: tuple[str, ...] = ()) -> dict[str, Any]:
    """The stored energy record of one point: totals over the timed region, and net of
    the idle baseline; a figure the counter cannot support is None, with a note why."""
    rec: dict[str, Any] = {
        "method": method, "source": source, "reason": reason, "seconds": None,
        "items": items, "joules": None, "avg_watts": None, "joules_per_item": None,
        "idle_watts": _finite(idle_watts), "idle_seconds": idle_seconds or None,
        "net_joules": None, "net_avg_watts": None, "net_joules_per_item": None,
        "counter_update_s": update_s or None, "precise": False, "note": ""}
    said = [n for n in notes if n]
    if method == "unavailable" or joules is None:
        rec.update(method="unavailable", idle_watts=None, idle_seconds=None,
                   reason=reason or "the counter could not be read around the timed loop")
        return rec
    rec["seconds"] = seconds
    if seconds <= 0 or items <= 0:
        said.append("no timed region: no figure")
    elif joules <= 0:
        said.append(f"the counter {'did not advance' if joules == 0 else 'went backwards'} "
                    f"over the {seconds:.3g} s timed region (it moves every ~{update_s:g} s): "
                    "no figure")
    else:
        rec.update(joules=joules, avg_watts=joules / seconds, joules_per_item=joules / items,
                   precise=seconds >= PRECISE_UPDATES * update_s)
        if not rec["precise"]:
            said.append(f"imprecise: the {seconds:.3g} s timed region is under "
                        f"{PRECISE_UPDATES} updates of the counter (~{update_s:g} s each)")
        said.extend(_net(rec, joules, seconds, items, rec["idle_watts"]))
    rec["note"] = "; ".join(said)
    return rec


def _net(rec: dict[str, Any], joules: float, seconds: float, items: int,
         idle_watts: float | None) -> list[str]:
    """Fill the net figures (above the idle baseline) of `rec`; notes on why not."""
    if idle_watts is None:
        return ["no idle baseline: no net figures"]
    net = joules - idle_watts * seconds
    if net < 0:
        return [f"the loop drew less than the idle baseline ({net:.3g} J net): no net figures"]
    rec.update(net_joules=net, net_avg_watts=net / seconds, net_joules_per_item=net / items)
    return []


def point_energy(meter: Meter, joules: float | None, seconds: float, items: int,
                 idle: IdleBaseline | None) -> dict[str, Any]:
    """The record of a point measured with `meter` (see `energy_record`)."""
    idle = idle or IdleBaseline(None, 0.0, "")
    return energy_record(meter.method, meter.source, joules, seconds, items,
                         idle.watts, idle.seconds, meter.update_s, meter.reason,
                         notes=(idle.note,))


def combine_energy(records: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One point's record from its processes' (`--processes N`): joules, seconds and items
    summed, idle watts weighted by idle seconds; precise only where every part is. None
    when no part has a record; the first part's record when their methods differ or a
    part has no figure (its note says why)."""
    parts = [r for r in records if r]
    if len(parts) <= 1 or any(r["method"] != parts[0]["method"] for r in parts) or \
            any(r.get("joules") is None for r in parts):
        return parts[0] if parts else None
    idle_s = sum(r.get("idle_seconds") or 0.0 for r in parts)
    idle_w = sum(r["idle_watts"] * (r.get("idle_seconds") or 0.0) for r in parts) / idle_s \
        if all(r.get("idle_watts") is not None for r in parts) and idle_s > 0 else None
    first = parts[0]
    rec = energy_record(first["method"], first["source"], sum(r["joules"] for r in parts),
                        sum(r["seconds"] for r in parts), sum(r["items"] for r in parts),
                        idle_w, idle_s, first.get("counter_update_s") or 0.0,
                        notes=tuple(dict.fromkeys(r["note"] for r in parts if r["note"])))
    rec["precise"] = rec["precise"] and all(r["precise"] for r in parts)
    return rec
