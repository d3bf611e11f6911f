"""What run.json's certificate holds and the report states (CONTRACT §15): the paired
ratios' certificate (`suite.ratios.certificate`: rounds, each cell's spread and MDE, the
control arms), the --resolve goal and how many cells reached it (`suite.resolve`), and
how far the machine's own speed moved between the rounds (`suite.drift`).

Pure functions over stored measurements; no framework imports.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from suite import ratios
from suite.drift import drift_record
from suite.resolve import resolve_record


def run_certificate(measurements: Sequence[Any], config: Mapping[str, Any],
                    judged: Sequence[ratios.Ratio] | None = None) -> dict[str, Any]:
    """The certificate of a finished run; `judged`: its `suite.ratios.run_ratios` where the
    caller has them already."""
    config = dict(config or {})
    if judged is None:
        judged = ratios.run_ratios(measurements, config)
    cert = ratios.run_certificate(measurements, config, judged)
    if config.get("resolve"):
        cert["resolve"] = resolve_record(judged, float(config["resolve"]))
    drift = drift_record(measurements)
    if drift is not None:
        cert["drift"] = drift
    return cert
