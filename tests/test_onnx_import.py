"""The ONNX importer (suite.models.onnx_import): the five modern zoo networks exported by
PyTorch and imported back build the same network in every framework; hand-written graphs
in other exporters' patterns; graphs of the ONNX adapter's own builder; every refusal."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import frameworks
import ir_numpy
from adapter_helpers import adapter_or_skip, import_or_skip, run
from suite.errors import UsageError
from suite.models import onnx_import, zoo
from suite.models.ir import Model
from suite.models.weights import make_weights

onnx = import_or_skip("onnx", "onnx", "pip install onnx onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402 - after the skip

from zoo_helpers import calibrated_weights, export_onnx  # noqa: E402

SIZE = 32        # full depth, 1x1 final maps: every layer runs, cheaply
TOL = 1e-4       # as tests/test_equivalence.py; measured 0 (pytorch), 2e-6 .. 9e-6
PARAMS = {"mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032,
          "efficientnet_b0": 5_288_548, "shufflenet_v2": 2_278_604, "densenet121": 7_978_856}


def signature(model: Model) -> list[tuple]:
    """The network without its names: per node the op, attributes (floats as float32, as
    ONNX stores them), output shape and the positions of its inputs; dropout nodes (which
    exporters drop) are skipped."""
    alias: dict[str, str] = {}
    position = {spec.name: -1 for spec in model.inputs}
    nodes = []
    for n in model.nodes:
        ins = [alias.get(i, i) for i in n.inputs]
        if n.op == "dropout":
            alias[n.name] = ins[0]
            continue
        attrs = tuple((k, float(np.float32(v)) if isinstance(v, float) else v)
                      for k, v in n.attrs if (k, v) != ("keepdims", False))
        position[n.name] = len(nodes)
        nodes.append((n.op, attrs, n.shape, tuple(position[i] for i in ins)))
    return nodes


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    return {"dir": tmp_path_factory.mktemp("onnx")}


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.MODERN_MODEL_NAMES)
def test_zoo_network_round_trips(exported, name):
    """Export (torch.onnx, batch norms kept), import: same parameters, same graph, same
    weights, and the imported description computes the PyTorch model's outputs in every
    framework's deployed mode."""
    import_or_skip("torch", "pytorch", "pip install torch")
    model = zoo.get_model(name, SIZE)
    weights = calibrated_weights(model, make_weights(model))
    path = os.path.join(exported["dir"], f"{name}.onnx")
    module = export_onnx(model, weights, path)
    found = onnx_import.import_onnx(path)
    assert (found.name, found.batch, found.opset, found.input_name) == (name, None, 17, "input")
    assert found.model.param_count() == model.param_count() == PARAMS[name]
    assert signature(found.model) == signature(model)
    for ours, theirs in zip(model.param_shapes(), found.model.param_shapes()):
        np.testing.assert_array_equal(found.weights[theirs], weights[ours])
    import torch
    x = np.random.default_rng(3).standard_normal((2, 3, SIZE, SIZE), dtype=np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert ir_numpy.rel_err(expected[0], expected[1]) > 1e-2
    for framework in frameworks.REGISTRY:
        adapter = adapter_or_skip(framework)
        opt = frameworks.deployed_optimization(framework, "infer")
        runnable = run(adapter, found.model, found.weights, {"data": x}, opt)
        assert runnable.param_count() == PARAMS[name], framework
        assert ir_numpy.rel_err(runnable.result(), expected) <= TOL, framework


def test_fixed_batch_and_names(tmp_path):
    import_or_skip("torch", "pytorch", "pip install torch")
    model = zoo.get_model("shufflenet_v2", SIZE)
    path = str(tmp_path / "shuffle-fixed.onnx")
    export_onnx(model, make_weights(model), path, batch=3)
    found = onnx_import.import_onnx(path)
    assert found.batch == 3 and found.name == "shuffle-fixed"     # the file's stem
    assert found.model.inputs[0].shape == (3, SIZE, SIZE)         # per item: any batch runs
    assert "batch 3" in found.model.notes and found.model.num_classes == 1000
    assert onnx_import.import_onnx(path, "mine").model.name == "mine"


# ------------------------------------------------------------------ hand-written graphs

def _const(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def save_graph(path, nodes, inits, in_shape=("N", 3, 9, 9), out_shape=("N", 5), opset=17,
               inputs=None, elem=TensorProto.FLOAT) -> str:
    inputs = inputs or [helper.make_tensor_value_info("x", elem, list(in_shape))]
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             list(out_shape))], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 8
    onnx.save(proto, str(path))
    return str(path)


def exporter_patterns_graph(path) -> str:
    """Patterns of tf2onnx / hand-written exports: asymmetric and SAME pads, x * sigmoid(x),
    x * hardsigmoid(x), Split, the batch read by Shape -> Gather -> Unsqueeze -> Concat for a
    channel shuffle, a layer norm between transposes, Squeeze, MatMul + Add."""
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1"], ["c1"], strides=[2, 2], pads=[0, 0, 1, 1]),            # 4x4x4
        n("HardSigmoid", ["c1"], ["hs"], alpha=1 / 6, beta=0.5), n("Mul", ["hs", "c1"], ["hw"]),
        n("Conv", ["hw", "w2", "b2"], ["c2"], group=4, auto_pad="SAME_UPPER"),
        n("Sigmoid", ["c2"], ["sg"]), n("Mul", ["c2", "sg"], ["si"]),
        n("MaxPool", ["si"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        n("Split", ["mp", "sizes"], ["a", "b"], axis=1),
        n("Relu", ["b"], ["rb"]), n("Concat", ["a", "rb"], ["cat"], axis=1),
        n("Shape", ["cat"], ["shape"]), n("Gather", ["shape", "zero"], ["batch"], axis=0),
        n("Unsqueeze", ["batch", "zero1"], ["batch1"]),
        n("Concat", ["batch1", "split_dims"], ["split_shape"], axis=0),
        n("Reshape", ["cat", "split_shape"], ["v"]),
        n("Transpose", ["v"], ["vt"], perm=[0, 2, 1, 3, 4]),
        n("Reshape", ["vt", "back"], ["shuf"]),
        n("Transpose", ["shuf"], ["nhwc"], perm=[0, 2, 3, 1]),
        n("LayerNormalization", ["nhwc", "g", "beta"], ["ln"], axis=-1, epsilon=1e-3),
        n("Transpose", ["ln"], ["nchw"], perm=[0, 3, 1, 2]),
        n("Clip", ["nchw", "lo", "hi"], ["cl"]),
        n("GlobalAveragePool", ["cl"], ["gp"]), n("Squeeze", ["gp", "axes"], ["sq"]),
        n("MatMul", ["sq", "w3"], ["mm"]), n("Add", ["mm", "b3"], ["y"]),
    ]
    inits = [_const("w1", rng.standard_normal((4, 3, 3, 3)) / 5),
             _const("w2", rng.standard_normal((4, 1, 3, 3)) / 3), _const("b2", [.1, 0, -.1, .2]),
             _const("sizes", [2, 2], np.int64), _const("zero", 0, np.int64),
             _const("zero1", [0], np.int64), _const("split_dims", [2, 2, 2, 2], np.int64),
             _const("back", [-1, 4, 2, 2], np.int64), _const("g", [1.1, .9, 1, 1.2]),
             _const("beta", [0, .1, -.1, 0]), _const("lo", 0.0), _const("hi", 0.6),
             _const("axes", [2, 3], np.int64), _const("w3", rng.standard_normal((4, 5))),
             _const("b3", rng.standard_normal(5))]
    return save_graph(path, nodes, inits)


def ort_run(path: str, x: np.ndarray) -> np.ndarray:
    ort = import_or_skip("onnxruntime", "onnx", "pip install onnxruntime")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_exporter_patterns_map_to_the_descriptions_ops(tmp_path):
    found = onnx_import.import_onnx(exporter_patterns_graph(tmp_path / "patterns.onnx"))
    ops = [n.op for n in found.model.nodes]
    assert ops == ["pad", "conv", "hardswish", "conv", "silu", "maxpool", "slice", "slice",
                   "relu", "concat", "channel_shuffle", "layernorm", "clip", "global_avgpool",
                   "dense"]
    assert found.model.node(found.model.output).attr("bias") is True
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 9), dtype=np.float32)
    expected = ort_run(found.path, x)
    got = ir_numpy.forward(found.model, found.weights, {"data": x})
    assert ir_numpy.rel_err(got, expected) < 1e-5


@pytest.mark.parametrize("graph", ["image", "softmax"])
def test_the_onnx_adapters_graphs_import_back(tmp_path, graph):
    """IR -> frameworks._onnx_graph -> file -> import computes the IR's function (ceil-mode
    pools written as end padding come back as ceil mode, LRN, the mobile ops...)."""
    from frameworks._onnx_graph import build_onnx
    model = ir_numpy.image_graph(5) if graph == "image" else ir_numpy.softmax_graph()
    weights = ir_numpy.random_weights(model)
    proto, _ = build_onnx(model, weights)
    path = str(tmp_path / f"{graph}.onnx")
    onnx.save(proto, path)
    found = onnx_import.import_onnx(path)
    assert found.model.param_count() == model.param_count()
    inputs = ir_numpy.random_inputs(model, 2)
    expected = ir_numpy.forward(model, weights, inputs)
    got = ir_numpy.forward(found.model, found.weights, {"data": inputs["image"]})
    assert ir_numpy.rel_err(got, expected) < 1e-7     # attributes went through float32
    if graph == "image":    # ceil-mode windows written as end padding come back as ceil mode
        pools = [n for n in found.model.nodes if n.op == "avgpool"]
        assert [n.attr("ceil_mode") for n in pools] == [True, True]
        pads = [n for n in found.model.nodes if n.op == "pad"]   # the mobile branch's, and the
        assert len(pads) == 2                                     # zeros of "ap_in" (see builder)


POOLS = [  # (op, n, attributes)
    ("MaxPool", 5, dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", 6, dict(kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 2, 2])),
    ("MaxPool", 7, dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER")),
    ("AveragePool", 6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
                            count_include_pad=1)),
    ("AveragePool", 6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("AveragePool", 6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])),
    ("AveragePool", 5, dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("AveragePool", 6, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1],
                            count_include_pad=1)),
]


@pytest.mark.parametrize("op, n, attrs", POOLS, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_pooling_forms_compute_what_onnx_runtime_computes(tmp_path, op, n, attrs):
    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    path = save_graph(tmp_path / "pool.onnx", nodes, [], in_shape=("N", 2, n, n + 1),
                      out_shape=("N", 2, None, None))
    found = onnx_import.import_onnx(path)
    x = np.random.default_rng(2).standard_normal((2, 2, n, n + 1), dtype=np.float32)
    got = ir_numpy.forward(found.model, found.weights, {"data": x})
    assert ir_numpy.rel_err(got, ort_run(path, x)) < 1e-6


# ------------------------------------------------------------------ refusals

def test_unsupported_ops_are_listed_in_one_line(tmp_path):
    n = helper.make_node
    nodes = [n("LeakyRelu", ["x"], ["a"]), n("LeakyRelu", ["x"], ["b"]),
             n("Conv", ["x", "w"], ["c"], dilations=[2, 2]),
             n("Resize", ["x", "", "scales"], ["d"]),
             n("Concat", ["a", "b", "c", "d"], ["e"], axis=1),          # depends: not listed
             n("GlobalAveragePool", ["e"], ["f"]), n("Flatten", ["f"], ["y"])]
    path = save_graph(tmp_path / "odd.onnx", nodes,
                      [_const("w", np.ones((3, 3, 1, 1))), _const("scales", [1, 1, 1, 1])],
                      out_shape=("N", 12))
    with pytest.raises(UsageError) as e:
        onnx_import.import_onnx(path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"model file {path}: cannot import 4 ops: Conv (dilated) x1, "
                              "LeakyRelu x2, Resize x1 (supported: Add, AveragePool, ")


def _identity_graph(tmp_path, **kw) -> str:
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    return save_graph(tmp_path / "g.onnx", nodes, [], out_shape=("N", 3), **kw)


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("text", "not an ONNX model"),
    ("opset12", "opset 12 is below 13; re-export it"),
    ("two_inputs", "2 inputs and 1 outputs; dlbench imports graphs with one image input"),
    ("dynamic_h", "dynamic dimensions other than the batch (Nx3xHx9)"),
    ("int_input", "input 'x' is int64; dlbench imports float32 image inputs"),
    ("vector_input", "input 'x' has 2 dimensions; dlbench imports image inputs"),
])
def test_bad_files_are_one_line_usage_errors(tmp_path, case, message):
    path = str(tmp_path / "g.onnx")
    if case == "text":
        (tmp_path / "g.onnx").write_text("not a protobuf\n" * 10)
    elif case == "opset12":
        _identity_graph(tmp_path, opset=12)
    elif case == "two_inputs":
        two = [helper.make_tensor_value_info(i, TensorProto.FLOAT, ["N", 3, 9, 9])
               for i in ("x", "x2")]
        _identity_graph(tmp_path, inputs=two)
    elif case == "dynamic_h":
        _identity_graph(tmp_path, in_shape=("N", 3, "H", 9))
    elif case == "int_input":
        _identity_graph(tmp_path, elem=TensorProto.INT64)
    elif case == "vector_input":
        _identity_graph(tmp_path, in_shape=("N", 3))
    with pytest.raises(UsageError) as e:
        onnx_import.import_onnx(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"model file {path}: ")


def test_a_minimal_graph_imports(tmp_path):
    found = onnx_import.import_onnx(_identity_graph(tmp_path))
    assert [n.op for n in found.model.nodes] == ["relu", "global_avgpool"]
    assert found.model.num_classes == 3 and found.weights == {}
    assert math.isclose(found.model.param_count(), 0)
