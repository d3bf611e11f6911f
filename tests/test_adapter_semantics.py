"""Adapters against the IR semantics (tests/ir_numpy.py, an independent float64 NumPy
reference), on tiny graphs: every op and optimization, Caffe-style pools, the SGD rule,
batch statistics in training, dropout, parameter layout.

Framework-specific behaviour (unsupported combinations, error mapping, thread settings)
is tested in each framework's own test_adapter_<name>.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import ir_numpy as ref
from adapter_helpers import adapter_or_skip, run

OPTIMIZATIONS = {"mxnet": ("none", "script"), "tensorflow": ("none", "script", "compile")}
FRAMEWORKS = sorted(OPTIMIZATIONS)
FRAMEWORK_OPTS = [(fw, opt) for fw in FRAMEWORKS for opt in OPTIMIZATIONS[fw]]
# float32 against a float64 reference: observed max rel. error ~3e-7 on these graphs.
TOL = 1e-5


GRAPHS = {
    "image_lrn5": lambda: ref.image_graph(5),
    "image_lrn4": lambda: ref.image_graph(4),   # even LRN size: asymmetric window
    "softmax": ref.softmax_graph,
    "bert": ref.bert_graph,
}


@pytest.mark.slow
@pytest.mark.parametrize("framework,opt", FRAMEWORK_OPTS)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_inference_matches_reference(framework, graph, opt):
    adapter = adapter_or_skip(framework)
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


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("kind", ["maxpool", "avg_include_pad", "avg_exclude_pad"])
@pytest.mark.parametrize("geometry", POOLS, ids=lambda g: "n{}k{}s{}p{}{}".format(
    *g[:4], "ceil" if g[4] else "floor"))
def test_pooling_matches_reference(framework, geometry, kind):
    adapter = adapter_or_skip(framework)
    op = "maxpool" if kind == "maxpool" else "avgpool"
    model = ref.pool_graph(*geometry, op=op, count_include_pad=kind == "avg_include_pad")
    inputs = ref.random_inputs(model, 2)
    out = run(adapter, model, {}, inputs, "script").result()  # 4-D output comes back NCHW
    assert ref.rel_err(out, ref.forward(model, {}, inputs)) < TOL


@pytest.mark.parametrize("framework,opt", FRAMEWORK_OPTS)
def test_sgd_steps_follow_torch_rule(framework, opt):
    """Two steps on a linear classifier: loss and weights equal the closed-form SGD with
    L2 weight decay in the gradient and momentum as torch.optim.SGD."""
    adapter = adapter_or_skip(framework)
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


@pytest.mark.parametrize("framework,opt", FRAMEWORK_OPTS)
def test_training_uses_batch_statistics(framework, opt):
    """The loss of a training step is computed with batch-norm on batch statistics."""
    adapter = adapter_or_skip(framework)
    model = ref.image_graph(5)
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 4)
    labels = np.array([1, 0, 9, 4])
    loss = float(run(adapter, model, weights, inputs, opt, "train", labels, dropout=False).result())
    logits = ref.forward(model, weights, inputs, bn_batch_stats=True)
    assert abs(loss - ref.cross_entropy(logits, labels)) < 1e-5 * abs(loss)
    logits_running = ref.forward(model, weights, inputs)
    assert abs(loss - ref.cross_entropy(logits_running, labels)) > 1e-3  # the check can fail


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dropout_flag(framework):
    adapter = adapter_or_skip(framework)
    model = ref.image_graph(5)
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 4)
    labels = np.array([1, 0, 9, 4])
    losses = [float(run(adapter, model, weights, inputs, "none", "train", labels,
                        dropout=d).result()) for d in (False, True)]
    assert losses[0] != losses[1]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_param_count_and_layout_round_trip(framework, graph):
    adapter = adapter_or_skip(framework)
    model = GRAPHS[graph]()
    weights = ref.random_weights(model)
    runnable = run(adapter, model, weights, ref.random_inputs(model, 2))
    assert runnable.param_count() == model.param_count()
    params = runnable.parameters()
    assert list(params) == list(model.trainable_param_shapes())
    for name, value in params.items():
        np.testing.assert_array_equal(value, weights[name])
