"""`compare` on serving runs: QPS, p99 with its CI and LoadGen's validity, never items/s
from a mean latency; a serve run is never compared with an infer run."""
from __future__ import annotations

import numpy as np
import pytest

from suite.errors import UsageError
from suite.report.compare import compare_runs
from suite.report.compare_serving import IMPROVEMENT, REGRESSION, SAME
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info


def _point(qps: float, p99_ms: float, achieved: float, valid: bool = True) -> Measurement:
    spec = PointSpec("serve", "onnx", "script", "resnet18", 8, 32, scenario="server",
                     target_qps=qps)
    rng = np.random.default_rng(int(qps))
    latencies = (p99_ms / 2.33) * np.exp(0.35 * rng.standard_normal(2000))  # p99 ≈ p99_ms
    return Measurement(spec, samples_ns=[int(v * 1e6) for v in latencies], items_per_step=8,
                       meta={"valid": valid, "loadgen": {
                           "result_completed_samples_per_sec": achieved}})


def _run(path, task, points):
    write_run_info(path, RunInfo(path.name, task, ["serve"], {}, {"cpu_model": "x"}, "now"))
    for m in points:
        append_measurement(path, m)
    return path


def test_serving_runs_compare_qps_p99_and_validity(tmp_path):
    a = _run(tmp_path / "a", "serve", [_point(50, 20, 50), _point(100, 20, 100),
                                       _point(200, 20, 200), _point(400, 20, 380)])
    b = _run(tmp_path / "b", "serve", [_point(50, 20, 50), _point(100, 40, 100),
                                       _point(200, 20, 160), _point(400, 20, 380, False)])
    result = compare_runs(a, b, min_effect=0.05)
    verdicts = [r.verdict for r in result.rows]
    assert verdicts == [SAME, REGRESSION, REGRESSION, REGRESSION]   # p99, QPS, validity
    assert len(result.regressions(10)) == 3
    text = result.render()
    assert "items/s" not in text and "QPS B/A" in text and "INVALID" in text
    back = compare_runs(b, a, min_effect=0.05)
    assert [r.verdict for r in back.rows] == [SAME, IMPROVEMENT, IMPROVEMENT, IMPROVEMENT]


def test_a_serve_run_is_never_compared_with_an_infer_run(tmp_path):
    a = _run(tmp_path / "a", "serve", [_point(50, 20, 50)])
    b = _run(tmp_path / "b", "infer", [])
    with pytest.raises(UsageError, match="cannot compare a 'serve' run with a 'infer' run"):
        compare_runs(a, b)
