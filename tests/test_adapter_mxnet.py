"""MXNet-specific adapter behaviour (the shared IR-semantics tests: test_adapter_semantics.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ir_numpy as ref
from adapter_helpers import adapter_or_skip, run
from frameworks.base import BuildRequest, OutOfMemory

FRAMEWORK = "mxnet"


@pytest.fixture(scope="module")
def adapter():
    return adapter_or_skip(FRAMEWORK)


def test_unsupported_combinations(adapter):
    assert adapter.unsupported("infer", "script", "cpu") is None
    assert adapter.unsupported("train", "script", "cpu") is None
    assert "compile" in adapter.unsupported("infer", "compile", "cpu")
    assert adapter.unsupported("train", "compile", "cpu")
    assert "float16" in adapter.unsupported("infer", "none", "cpu", dtype="float16")
    assert adapter.unsupported("infer", "none", "tpu")
    assert adapter.unsupported("infer", "none", "cuda") is None  # the worker's availability
    if "cuda" not in adapter.availability().devices:
        assert "GPU" in adapter.availability().device_reason
        bert = ref.bert_graph()
        with pytest.raises(NotImplementedError, match="GPU"):
            adapter.build(BuildRequest(bert, ref.random_weights(bert), "infer", "none", 2,
                                       device="cuda"))
    bert = ref.bert_graph()
    with pytest.raises(NotImplementedError, match="image classifiers only"):
        adapter.build(BuildRequest(bert, ref.random_weights(bert), "train", "none", 2))
    with pytest.raises(NotImplementedError, match="compile"):
        adapter.build(BuildRequest(bert, ref.random_weights(bert), "infer", "compile", 2))
    with pytest.raises(NotImplementedError, match="bfloat16"):
        adapter.build(BuildRequest(bert, ref.random_weights(bert), "infer", "none", 2,
                                   dtype="bfloat16"))


def test_engine_errors_reporting_oom_are_out_of_memory(adapter):
    import mxnet as mx
    model = ref.softmax_graph()
    runnable = run(adapter, model, ref.random_weights(model), ref.random_inputs(model, 2))

    class FailingOutput:
        """Stands for the step's output; MXNet reports engine errors when it is waited on."""

        def __init__(self, message):
            self.message = message

        def wait_to_read(self):
            raise mx.base.MXNetError(self.message)

    runnable._last = FailingOutput("[10:00:00] src/storage/./pooled_storage_manager.h:161: "
                                   "cudaMalloc retry failed: out of memory")
    with pytest.raises(OutOfMemory):
        runnable.synchronize()
    runnable._last = FailingOutput("some other engine failure")
    with pytest.raises(mx.base.MXNetError):
        runnable.synchronize()


_THREADS = """
import ctypes, json, os
from frameworks import get_adapter
a = get_adapter("mxnet")
a.configure_threads(3, 2)
import ir_numpy as ref
from frameworks.base import BuildRequest
m = ref.softmax_graph()
r = a.build(BuildRequest(m, ref.random_weights(m), "infer", "script", 2))
r.set_inputs(ref.random_inputs(m, 2)); r.step(); r.synchronize()
omp = ctypes.CDLL("libgomp.so.1").omp_get_max_threads()  # the libgomp mxnet loaded
print(json.dumps([omp, os.environ["MXNET_CPU_WORKER_NTHREADS"]]))
"""


def test_thread_configuration_in_fresh_process(adapter):
    # MXNet reads its thread settings from the environment when first imported: a fresh
    # interpreter, started in tests/ so that it can import ir_numpy.
    out = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True,
                         cwd=Path(__file__).parent, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [3, "2"]


def test_import_does_not_import_mxnet():
    code = "import sys, frameworks.mxnet_gluon; print('mxnet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
