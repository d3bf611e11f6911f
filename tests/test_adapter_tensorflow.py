"""TensorFlow-specific adapter behaviour (the shared IR-semantics tests: test_adapter_semantics.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ir_numpy as ref
from adapter_helpers import adapter_or_skip, run
from frameworks.base import BuildRequest, OutOfMemory

FRAMEWORK = "tensorflow"


@pytest.fixture(scope="module")
def adapter():
    return adapter_or_skip(FRAMEWORK)


def test_unsupported_combinations(adapter):
    assert adapter.unsupported("infer", "compile", "cpu") is None
    assert adapter.unsupported("train", "compile", "cpu") is None
    assert "float16" in adapter.unsupported("infer", "none", "cpu", dtype="float16")
    assert adapter.unsupported("infer", "jit", "cpu")
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
    with pytest.raises(NotImplementedError, match="bfloat16"):
        adapter.build(BuildRequest(bert, ref.random_weights(bert), "infer", "none", 2,
                                   dtype="bfloat16"))


def test_resource_exhausted_is_out_of_memory(adapter):
    import tensorflow as tf
    model = ref.softmax_graph()
    runnable = run(adapter, model, ref.random_weights(model), ref.random_inputs(model, 2))

    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    runnable._fn = exhausted
    with pytest.raises(OutOfMemory):
        runnable.step()


_THREADS = """
import json
from frameworks import get_adapter
a = get_adapter("tensorflow")
a.configure_threads(3, 2)
import ir_numpy as ref
from frameworks.base import BuildRequest
m = ref.softmax_graph()
r = a.build(BuildRequest(m, ref.random_weights(m), "infer", "script", 2))
r.set_inputs(ref.random_inputs(m, 2)); r.step()
import tensorflow as tf
print(json.dumps([tf.config.threading.get_intra_op_parallelism_threads(),
                  tf.config.threading.get_inter_op_parallelism_threads()]))
"""


@pytest.mark.slow
def test_thread_configuration_in_fresh_process(adapter):
    # TF's thread pools are process-global and fixed at first use: a fresh interpreter,
    # started in tests/ so that it can import ir_numpy.
    out = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True,
                         cwd=Path(__file__).parent, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [3, 2]


_GROUPED = """
import json
import frameworks.tensorflow_keras as k
import ir_numpy as ref
tf = k._import_tf()
model = ref.image_graph(5)   # a grouped convolution with a bias
w, x = ref.random_weights(model), ref.random_inputs(model, 3)
from adapter_helpers import run
r = run(k.TensorFlowAdapter(), model, w, x, "script")
print(json.dumps([k.fused_grouped_conv_runs(tf), r.net.split_grouped_inference,
                  ref.rel_err(r.result(), ref.forward(model, w, x))]))
"""


@pytest.mark.slow
def test_grouped_convolutions_run_under_tf_function_without_onednn(adapter):
    # Without oneDNN (CPUs without AVX-512, or TF_ENABLE_ONEDNN_OPTS=0 anywhere) grappler's
    # fused Conv2D + BiasAdd rejects groups: the adapter probes it and runs the groups apart.
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0")
    out = subprocess.run([sys.executable, "-c", _GROUPED], capture_output=True, text=True,
                         cwd=Path(__file__).parent, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    fused_runs, split, err = json.loads(out.stdout.strip().splitlines()[-1])
    assert (fused_runs, split) == (False, True) and err < 1e-5


def test_import_does_not_import_tensorflow():
    code = "import sys, frameworks.tensorflow_keras; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
