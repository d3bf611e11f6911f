"""The MXNet adapter against the IR semantics (tests/ir_numpy.py), on tiny graphs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ir_numpy as ref
from frameworks import get_adapter
from frameworks.base import BuildRequest, OutOfMemory

FRAMEWORK = "mxnet"
OPTS = ("none", "script")
# float32 against a float64 reference: observed max rel. error ~3e-7 on these graphs.
TOL = 1e-5


@pytest.fixture(scope="module")
def adapter():
    a = get_adapter(FRAMEWORK)
    avail = a.availability()
    if not avail.ok:
        pytest.skip(f"{FRAMEWORK} unavailable: {avail.reason} ({avail.install})")
    return a


def run(adapter, model, weights, inputs, opt="none", task="infer", labels=None, steps=1, **kw):
    batch = len(next(iter(inputs.values())))
    runnable = adapter.build(BuildRequest(model, weights, task, opt, batch, **kw))
    runnable.set_inputs(inputs, labels)
    for _ in range(steps):
        runnable.step()
    runnable.synchronize()
    return runnable


GRAPHS = {
    "image_lrn5": lambda: ref.image_graph(5),
    "image_lrn4": lambda: ref.image_graph(4),   # even LRN size: asymmetric window
    "softmax": ref.softmax_graph,
    "bert": ref.bert_graph,
}


@pytest.mark.parametrize("opt", OPTS)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_inference_matches_reference(adapter, graph, opt):
    model = GRAPHS[graph]()
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 3)
    out = run(adapter, model, weights, inputs, opt).result()
    assert ref.rel_err(out, ref.forward(model, weights, inputs)) < TOL


POOLS = [  # (n, kernel, stride, padding, ceil_mode)
    (11, 3, 2, 1, True), (12, 3, 2, 0, True), (12, 3, 2, 0, False), (6, 3, 2, 1, True),
    (5, 2, 3, 1, True),    # PyTorch drops the last window (it starts in the right padding)
    (2, 3, 2, 0, True),    # window larger than the input (CaffeNet/NIN/SqueezeNet tails)
    (9, 5, 3, 2, True), (7, 3, 3, 1, False),
]


@pytest.mark.parametrize("kind", ["maxpool", "avg_include_pad", "avg_exclude_pad"])
@pytest.mark.parametrize("geometry", POOLS, ids=lambda g: "n{}k{}s{}p{}{}".format(
    *g[:4], "ceil" if g[4] else "floor"))
def test_pooling_matches_reference(adapter, geometry, kind):
    op = "maxpool" if kind == "maxpool" else "avgpool"
    model = ref.pool_graph(*geometry, op=op, count_include_pad=kind == "avg_include_pad")
    inputs = ref.random_inputs(model, 2)
    out = run(adapter, model, {}, inputs, "script").result()  # 4-D output comes back NCHW
    assert ref.rel_err(out, ref.forward(model, {}, inputs)) < TOL


@pytest.mark.parametrize("opt", OPTS)
def test_sgd_steps_follow_torch_rule(adapter, opt):
    """Two steps on a linear classifier: loss and weights equal the closed-form SGD with
    L2 weight decay in the gradient and momentum as torch.optim.SGD."""
    model = ref.linear_classifier()
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 4)
    labels = np.array([0, 3, 4, 3])
    hp = dict(lr=0.1, momentum=0.9, weight_decay=0.01)
    runnable = run(adapter, model, weights, inputs, opt, "train", labels, steps=2, **hp)
    losses, expected = ref.sgd_reference(weights, inputs["image"], labels, 2, hp["lr"],
                                         hp["momentum"], hp["weight_decay"])
    assert runnable.result().shape == ()
    assert abs(float(runnable.result()) - losses[-1]) < 1e-5 * abs(losses[-1])
    got = runnable.parameters()
    assert set(got) == set(expected)
    for name in expected:
        assert ref.rel_err(got[name], expected[name]) < TOL, name


@pytest.mark.parametrize("opt", OPTS)
def test_training_uses_batch_statistics(adapter, opt):
    """The loss of a training step is computed with batch-norm on batch statistics."""
    model = ref.image_graph(5)
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 4)
    labels = np.array([1, 0, 9, 4])
    loss = float(run(adapter, model, weights, inputs, opt, "train", labels, dropout=False).result())
    logits = ref.forward(model, weights, inputs, bn_batch_stats=True)
    assert abs(loss - ref.cross_entropy(logits, labels)) < 1e-5 * abs(loss)
    logits_running = ref.forward(model, weights, inputs)
    assert abs(loss - ref.cross_entropy(logits_running, labels)) > 1e-3  # the check can fail


def test_dropout_flag(adapter):
    model = ref.image_graph(5)
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 4)
    labels = np.array([1, 0, 9, 4])
    losses = [float(run(adapter, model, weights, inputs, "none", "train", labels,
                        dropout=d).result()) for d in (False, True)]
    assert losses[0] != losses[1]


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_param_count_and_layout_round_trip(adapter, graph):
    model = GRAPHS[graph]()
    weights = ref.random_weights(model)
    runnable = run(adapter, model, weights, ref.random_inputs(model, 2))
    assert runnable.param_count() == model.param_count()
    params = runnable.parameters()
    assert list(params) == list(model.trainable_param_shapes())
    for name, value in params.items():
        np.testing.assert_array_equal(value, weights[name])


def test_unsupported_combinations(adapter):
    assert adapter.unsupported("infer", "script", "cpu") is None
    assert adapter.unsupported("train", "script", "cpu") is None
    assert "compile" in adapter.unsupported("infer", "compile", "cpu")
    assert adapter.unsupported("train", "compile", "cpu")
    assert "float16" in adapter.unsupported("infer", "none", "cpu", dtype="float16")
    assert adapter.unsupported("infer", "none", "tpu")
    if "cuda" not in adapter.availability().devices:
        assert "GPU" in adapter.unsupported("infer", "none", "cuda")
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
