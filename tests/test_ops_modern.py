"""The mobile CNNs' ops (clip/ReLU6, sigmoid, hardsigmoid, hardswish, SiLU, broadcast mul,
pad, channel shuffle, channel slice, layer norm over channels, keepdims global average,
depthwise conv) in every framework against tests/ir_numpy.py.

Inference in every optimization (and torch.compile) is covered by the shared tiny graphs:
ir_numpy.image_graph holds ir_numpy.mobile_branch, so test_adapter_semantics,
test_adapter_pytorch and test_adapter_onnx check these ops too. Here: the branch alone
(its ops are not diluted by the rest of image_graph), gradients of a training step against
finite differences of the float64 reference, and shape rules.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import ir_numpy as ref
from adapter_helpers import adapter_or_skip, run
from suite.models import counts
from suite.models.ir import GraphBuilder, GraphError, Model

TOL = 1e-5          # float32 network vs float64 reference: max|a - b| / max|ref|
GRAD_TOL = 2e-3     # float32 gradients vs central differences of the float64 reference
INFER = [("pytorch", "none"), ("pytorch", "script"), ("mxnet", "none"), ("mxnet", "script"),
         ("tensorflow", "none"), ("tensorflow", "script"), ("tensorflow", "compile"),
         ("onnx", "none"), ("onnx", "script")]
TRAIN = [fo for fo in INFER if fo[0] != "onnx"]


def mobile_graph() -> Model:
    """ir_numpy.mobile_branch on an (8, 6, 6) input, flattened into a 5-class dense layer."""
    b = GraphBuilder("tiny_mobile", "mobile ops")
    x = b.unary("flatten", "flat", ref.mobile_branch(b, b.input("image", (8, 6, 6))))
    return b.build(b.dense("fc", x, 5), num_classes=5)


def pad_pool_graph() -> Model:
    """-inf padding before a max pool, and clips with one or no finite bound."""
    b = GraphBuilder("tiny_pad", "pad and clip")
    x = b.input("image", (3, 5, 6))
    p = b.add("pad", "pad", [x], pads=(1, 2, 0, 3), value=-math.inf)      # 3 x 8 x 9
    m = b.maxpool("pool", p, 3, 2)                                           # 3 x 3 x 4
    low = b.clip("low", m, -0.25, math.inf)
    return b.build(b.clip("high", low, -math.inf, 0.5))


@pytest.mark.parametrize("framework, opt", INFER, ids=lambda v: str(v))
@pytest.mark.parametrize("graph", [mobile_graph, pad_pool_graph], ids=lambda g: g.__name__)
def test_inference_matches_reference(graph, framework, opt):
    adapter = adapter_or_skip(framework)
    model = graph()
    weights, inputs = ref.random_weights(model), ref.random_inputs(model, 2)
    expected = ref.forward(model, weights, inputs)
    assert ref.rel_err(expected[0], expected[1]) > 1e-2      # the reference depends on x
    out = run(adapter, model, weights, inputs, opt).result()
    assert ref.rel_err(out, expected) < TOL


def numeric_gradients(model: Model, weights: dict, inputs: dict, labels: np.ndarray,
                      step: float = 1e-6) -> dict[str, np.ndarray]:
    """d(mean cross-entropy)/d(weight), central differences of the float64 reference with
    batch-norm batch statistics (a training step's forward)."""
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}

    def loss() -> float:
        return ref.cross_entropy(ref.forward(model, w64, inputs, bn_batch_stats=True), labels)

    grads = {}
    for name in model.trainable_param_shapes():
        g = np.zeros_like(w64[name])
        flat, gflat = w64[name].reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + step
            up = loss()
            flat[i] = keep - step
            gflat[i] = (up - loss()) / (2 * step)
            flat[i] = keep
        grads[name] = g
    return grads


@pytest.fixture(scope="module")
def gradient_case() -> dict:
    model = mobile_graph()
    weights, inputs = ref.random_weights(model, seed=4), ref.random_inputs(model, 4, seed=5)
    labels = np.array([0, 3, 1, 4])
    return {"model": model, "weights": weights, "inputs": inputs, "labels": labels,
            "grads": numeric_gradients(model, weights, inputs, labels)}


@pytest.mark.slow
@pytest.mark.parametrize("framework, opt", TRAIN, ids=lambda v: str(v))
def test_training_step_gradients_match_finite_differences(gradient_case, framework, opt):
    """One SGD step with lr 1, no momentum or decay: w0 - w1 is the gradient, which must
    match the reference's central differences for every parameter (each op's backward)."""
    adapter = adapter_or_skip(framework)
    case = gradient_case
    runnable = run(adapter, case["model"], case["weights"], case["inputs"], opt, "train",
                   case["labels"], lr=1.0, momentum=0.0, weight_decay=0.0, dropout=False)
    after = runnable.parameters()
    for name, numeric in case["grads"].items():
        got = case["weights"][name].astype(np.float64) - after[name]
        assert ref.rel_err(got, numeric) < GRAD_TOL, name


def test_shape_rules_name_the_node():
    b = GraphBuilder("t", "t")
    x = b.input("data", (6, 4, 4))
    v = b.global_avgpool("v", x)
    assert b.shape(b.global_avgpool("k", x, keepdims=True)) == (6, 1, 1) and b.shape(v) == (6,)
    assert b.shape(b.add("mul", "m", [x, "k"])) == (6, 4, 4)
    with pytest.raises(GraphError, match=r"node 'bad_mul' \(mul\).*\(C, 1, 1\)"):
        b.add("mul", "bad_mul", [x, v])
    with pytest.raises(GraphError, match=r"'bad_shuffle' \(channel_shuffle\).*groups 4"):
        b.add("channel_shuffle", "bad_shuffle", [x], groups=4)
    with pytest.raises(GraphError, match=r"'bad_slice' \(slice\).*\[4, 7\) outside \[0, 6\)"):
        b.add("slice", "bad_slice", [x], begin=4, end=7)
    with pytest.raises(GraphError, match=r"'bad_pad' \(pad\).*non-negative"):
        b.add("pad", "bad_pad", [x], pads=(0, -1, 0, 0), value=0.0)
    with pytest.raises(GraphError, match=r"'bad_clip' \(clip\).*min must not exceed max"):
        b.clip("bad_clip", x, 2.0, 1.0)
    assert b.shape(b.add("pad", "p", [x], pads=(1, 2, 3, 4), value=0.0)) == (6, 7, 11)
    assert b.shape(b.add("slice", "s", [x], begin=2, end=5)) == (3, 4, 4)


def test_layernorm_over_channels_has_channel_parameters():
    b = GraphBuilder("t", "t")
    x = b.input("data", (6, 4, 5))
    model = b.build(b.add("layernorm", "ln", [x], eps=1e-6))
    assert model.param_shapes() == {"ln.gamma": (6,), "ln.beta": (6,)}


def test_macs_count_depthwise_convs_and_not_elementwise_ops():
    model = mobile_graph()
    by_hand = {"m.pw": 8 * 36 * 8, "m.dw": 8 * 12 * 9, "m.se.fc0": 4 * 8, "m.se.fc1": 8 * 4,
               "m.dw2": 16 * 12 * 9, "fc": 192 * 5}
    assert counts.macs_per_item(model) == sum(by_hand.values())
    for n, shapes in ((n, [model.shape_of(i) for i in n.inputs]) for n in model.nodes):
        if n.op not in ("conv", "dense"):
            assert counts.node_macs(n, shapes) == 0, n.name
