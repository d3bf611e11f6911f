"""Which stored peak a point's % of peak is of: its own node's, where the point ran in a
Slurm job that measured the peak on its compute node (`suite.launchers.node_peak`,
stored with the point's host fingerprint as `meta["host"]["peak"]`), else the run's
(run.json's `environment["peak"]`, measured where the sweep was started).

A login node's peak says nothing of a compute node's, so a Slurm point is never divided
by the submitting machine's figure; points run locally carry no peak of their own and
keep the run's. The figure within the chosen peak is still picked by
`suite.peak.point_peak_gflops` (device, dtype, threads x ranks)."""
from __future__ import annotations

from typing import Any

HOST_PEAK_KEY = "peak"      # meta["host"]["peak"]: the node's peak, as run.json stores one


def host_peak(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The peak stored with a point's host fingerprint, or None."""
    host = (meta or {}).get("host")
    peak = host.get(HOST_PEAK_KEY) if isinstance(host, dict) else None
    return peak if isinstance(peak, dict) and peak else None


def point_peak_record(run_peak: dict[str, Any] | None,
                      meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The peak a point is divided by: its node's where it has one, else the run's."""
    return host_peak(meta) or run_peak


def peak_place(meta: dict[str, Any] | None) -> str:
    """" (measured on node NAME)" for a point divided by its node's peak, else ""."""
    if host_peak(meta) is None:
        return ""
    name = ((meta or {}).get("host") or {}).get("hostname") or "its node"
    return f" (measured on node {name})"
