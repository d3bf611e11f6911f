"""The highest offered QPS whose p99 stays within a bound, found by probing Server runs
as LoadGen's peak-performance mode does: double from a start until the bound breaks,
then bisect between the last rate that held and the first that did not. Each probe is a
stored point, so the latency-vs-QPS plot shows the search. "Within the bound" is
`figures.within_bound`: LoadGen's latency constraint, the harness's p99, and keeping up."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from suite.serving.figures import within_bound
from suite.spec import Measurement

Probe = Callable[[float], Measurement]      # offered QPS -> a measured Server point


@dataclass
class PeakResult:
    peak_qps: float                         # 0 when no probed rate held the bound
    probes: list[Measurement] = field(default_factory=list)
    failed: Measurement | None = None       # a probe that errored (the search stops)


def find_peak(probe: Probe, start_qps: float, p99_ms: float, steps: int = 6,
              resolution: float = 1.1, growth: float = 2.0) -> PeakResult:
    """Search at most `steps` probes, stopping when the bracket is within `resolution`
    (a ratio) of the best rate that held; before a bracket exists each probe is `growth`
    times (or 1/`growth` of) the last (2: doubling; a start near the peak, such as an
    earlier search's result, finds it in fewer probes with a smaller factor)."""
    held, broke = 0.0, float("inf")
    qps = start_qps
    result = PeakResult(0.0)
    for _ in range(steps):
        m = probe(round(qps, 2))
        result.probes.append(m)
        if m.status not in ("ok",):
            result.failed = m
            break
        if within_bound(m, p99_ms):
            held = max(held, qps)
        else:
            broke = min(broke, qps)
        if broke < float("inf") and held and broke / held <= resolution:
            break
        qps = (held + broke) / 2 if broke < float("inf") and held else \
            (qps * growth if broke == float("inf") else qps / growth)
    result.peak_qps = held
    return result
