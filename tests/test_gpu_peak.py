"""The GPU's measured peak (suite.gpu_peak): its child, its stored shape, and its failures
stored as reasons, never raised."""
import json
import subprocess
import sys

import pytest

from suite import _native
from suite.gpu_peak import best_tflops, gpu_peak_record, measure_gpu_peak
from suite.peak import is_gpu_peak

CHILD = {"device_name": "NVIDIA H200", "device_index": 0, "library": "torch 2.11.0",
         "size": 8192, "gflops": {"float32": 51234.56, "tf32": 412000.0,
                                  "bfloat16": 760000.0, "float16": 0.0},
         "errors": {"float16": "RuntimeError: no kernel"}}


def test_the_stored_record_says_it_is_a_gpu_peak_per_dtype_with_method_and_device():
    record = gpu_peak_record(CHILD)
    assert is_gpu_peak(record) and record["kind"] == "gpu"
    assert record["device_name"] == "NVIDIA H200" and record["device_index"] == 0
    assert record["gflops_by_dtype"] == {"float32": 51234.6, "tf32": 412000.0,
                                         "bfloat16": 760000.0}    # no zero figure kept
    assert record["errors"] == {"float16": "RuntimeError: no kernel"}
    assert "8192x8192" in record["method"] and "CUDA events" in record["method"]
    assert "TF32 off" in record["method"] and "error" not in record
    json.dumps(record)                              # stored in run.json as it is


def test_a_failed_measurement_is_a_record_with_the_reason():
    record = gpu_peak_record({"error": "CUDA not available: no driver"})
    assert record["kind"] == "gpu" and record["gflops_by_dtype"] == {}
    assert record["error"] == "CUDA not available: no driver"


def test_best_of_rounds_after_warm_up():
    """A timer whose first rounds are slow (clocks ramping up): the best round counts."""
    calls, times = [], iter([0.02, 0.05, 0.04, 0.02, 0.06, 0.03])

    def timer(run, count):
        calls.append(count)
        return next(times)

    tflops = best_tflops(lambda: None, timer, flop=1e12, round_s=0.04, repeats=5)
    assert calls == [1, 2, 2, 2, 2, 2]        # one product timed, then rounds of 0.04 s
    assert tflops == pytest.approx(2 * 1e12 / 0.02 / 1e12)


@pytest.mark.skipif(_native.cuda_available(), reason="a CUDA driver is present")
def test_without_cuda_the_child_reports_why_and_the_parent_keeps_it():
    record = measure_gpu_peak()
    assert record["kind"] == "gpu" and record["gflops_by_dtype"] == {}
    assert "CUDA not available" in record["error"] or "neither torch nor cupy" in \
        record["error"], record


def test_without_torch_or_cupy_the_child_prints_an_error_line():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['cupy'] = None; "
            "import runpy; runpy.run_module('suite.gpu_peak', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] == "neither torch nor cupy is installed: no GPU peak"


def test_a_child_that_dies_is_a_reason(monkeypatch):
    import suite.gpu_peak as gpu_peak
    monkeypatch.setattr(gpu_peak.sys, "executable", "/nonexistent/python")
    record = gpu_peak.measure_gpu_peak()
    assert record["gflops_by_dtype"] == {} and "GPU peak measurement failed" in record["error"]


@pytest.mark.gpu
@pytest.mark.skipif(not _native.cuda_available(), reason=_native.cuda_unavailable_reason())
def test_the_gpu_peak_is_measured_for_every_dtype():
    record = measure_gpu_peak()
    figures = record["gflops_by_dtype"]
    assert "error" not in record, record
    if record["library"].startswith("torch"):
        assert set(figures) == {"float32", "tf32", "bfloat16", "float16"}, record
        # tensor cores: TF32 beats strict float32, half precision beats TF32
        assert figures["float32"] < figures["tf32"] < figures["bfloat16"], record
    assert all(v > 1000 for v in figures.values()), record      # over 1 TFLOP/s each
    assert record["device_name"], record
