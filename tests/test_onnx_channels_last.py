"""Files exported by tf2onnx from Keras models (issue "Your own model", item 6): an
(N, H, W, C) input transposed first, batch norms folded halfway into `Mul`/`Add` by
per-channel constants, and - without tf2onnx's optimizer - transposes around every conv
with the activations, residual adds, pads and the final mean in channels-last form. Hand-
built graphs in those patterns import to the same description, computing ORT's function;
`benchmarks/tf2onnx_import.py` runs the real exporter on Keras' MobileNetV2."""
from __future__ import annotations

import numpy as np
import pytest

import ir_numpy
from adapter_helpers import import_or_skip
from suite import equivalence, equivalence_worker
from suite.models import imported, onnx_import

onnx = import_or_skip("onnx", "onnx", "pip install onnx onnxruntime")
from onnx import helper  # noqa: E402 - after the skip

from test_onnx_import import _const, ort_run, save_graph  # noqa: E402

n = helper.make_node
IN_SHAPE = ("N", 9, 9, 3)


def _inits(rng: np.random.Generator) -> list:
    return [_const("w1", rng.standard_normal((4, 3, 3, 3)) / 4),
            _const("s1", rng.uniform(0.5, 1.5, (1, 4, 1, 1))),
            _const("b1", rng.uniform(-.2, .2, (1, 4, 1, 1))),
            _const("wd", rng.standard_normal((4, 1, 3, 3)) / 3),
            _const("sd", rng.uniform(0.5, 1.5, 4)), _const("bd", rng.uniform(-.2, .2, 4)),
            _const("lo", 0.0), _const("hi", 6.0),
            _const("pads", [0, 1, 1, 0, 0, 1, 1, 0], np.int64),
            _const("wp", rng.standard_normal((4, 4, 3, 3)) / 6),
            _const("axes", [1, 2], np.int64), _const("w3", rng.standard_normal((4, 5))),
            _const("b3", rng.standard_normal(5))]


def optimized_graph(path) -> str:
    """tf2onnx with its optimizer: one transpose at the input; a depthwise conv's batch norm
    left as Mul + Add by (1, C, 1, 1) constants."""
    nodes = [n("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             n("Conv", ["xt", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             n("Mul", ["c1", "s1"], ["m1"]), n("Add", ["m1", "b1"], ["a1"]),
             n("Clip", ["a1", "lo", "hi"], ["r1"]),
             n("Conv", ["r1", "wd"], ["cd"], group=4, pads=[1, 1, 1, 1]),
             n("Clip", ["cd", "lo", "hi"], ["rd"]),
             n("Add", ["rd", "r1"], ["res"]),
             n("GlobalAveragePool", ["res"], ["gp"]), n("Flatten", ["gp"], ["fl"]),
             n("MatMul", ["fl", "w3"], ["mm"]), n("Add", ["mm", "b3"], ["y"])]
    return save_graph(path, nodes, _inits(np.random.default_rng(0)), in_shape=IN_SHAPE)


def unoptimized_graph(path) -> str:
    """tf2onnx without its optimizer: each conv between Transpose(0,3,1,2) and
    Transpose(0,2,3,1); batch norm (Mul, Add by (C,) constants), ReLU6, the residual Add
    and a Pad in channels-last form; the mean over axes 1 and 2 at the end."""
    nodes = [n("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             n("Conv", ["xt", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             n("Transpose", ["c1"], ["c1h"], perm=[0, 2, 3, 1]),
             n("Clip", ["c1h", "lo", "hi"], ["r1"]),
             n("Transpose", ["r1"], ["r1t"], perm=[0, 3, 1, 2]),
             n("Conv", ["r1t", "wd"], ["cd"], group=4, pads=[1, 1, 1, 1]),
             n("Transpose", ["cd"], ["cdh"], perm=[0, 2, 3, 1]),
             n("Mul", ["cdh", "sd"], ["md"]), n("Add", ["md", "bd"], ["ad"]),
             n("Clip", ["ad", "lo", "hi"], ["rd"]),
             n("Add", ["rd", "r1"], ["res"]),
             n("Pad", ["res", "pads"], ["pd"]),
             n("Transpose", ["pd"], ["pdt"], perm=[0, 3, 1, 2]),
             n("Conv", ["pdt", "wp"], ["cp"], strides=[2, 2]),
             n("Transpose", ["cp"], ["cph"], perm=[0, 2, 3, 1]),
             n("ReduceMean", ["cph"], ["mean"], axes=[1, 2], keepdims=0),
             n("MatMul", ["mean", "w3"], ["mm"]), n("Add", ["mm", "b3"], ["y"])]
    return save_graph(path, nodes, _inits(np.random.default_rng(0)), in_shape=IN_SHAPE)


def _check(path: str, ops: list[str]) -> onnx_import.ImportedModel:
    found = onnx_import.import_onnx(path)
    assert found.input_layout == "NHWC" and found.model.inputs[0].shape == (3, 9, 9)
    assert [node.op for node in found.model.nodes] == ops
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 9), dtype=np.float32)
    expected = ort_run(found.path, x.transpose(0, 2, 3, 1).copy())
    got = ir_numpy.forward(found.model, found.weights, {"data": x})
    assert ir_numpy.rel_err(got, expected) < 1e-5
    return found


def test_a_channels_last_input_with_half_folded_batch_norms(tmp_path):
    found = _check(optimized_graph(tmp_path / "keras.onnx"),
                   ["conv", "clip", "conv", "clip", "add", "global_avgpool", "dense"])
    first = found.model.nodes[0]
    assert first.attr("bias") is True       # the Mul folded into its weight, the Add its bias
    assert "input NHWC" in found.model.notes


def test_transposes_around_every_conv_fold_away(tmp_path):
    _check(unoptimized_graph(tmp_path / "keras_raw.onnx"),
           ["conv", "clip", "conv", "clip", "add", "pad", "conv", "global_avgpool", "dense"])


def test_a_scale_is_not_folded_into_a_conv_another_op_reads(tmp_path):
    """conv -> Mul by a constant, the conv's output also read by the residual Add: folding
    would change the Add's input, so the Mul is refused (one line, exit 2 at the CLI)."""
    rng = np.random.default_rng(2)
    nodes = [n("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             n("Mul", ["c1", "s1"], ["m1"]), n("Add", ["m1", "c1"], ["a1"]),
             n("GlobalAveragePool", ["a1"], ["gp"]), n("Flatten", ["gp"], ["fl"]),
             n("MatMul", ["fl", "w3"], ["mm"]), n("Add", ["mm", "b3"], ["y"])]
    path = save_graph(tmp_path / "shared.onnx", nodes, _inits(rng))
    with pytest.raises(Exception, match=r"cannot import 1 op: Mul \(by a constant\) x1"):
        onnx_import.import_onnx(path)


def test_a_constant_that_broadcasts_over_the_batch_is_not_folded(tmp_path):
    """conv * c with c of shape (C, 1, 1, 1): that scales the batch axis of a (N, C, H, W)
    tensor (and fails for N != C), not the channels, so it is refused, not folded."""
    nodes = [n("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             n("Mul", ["c1", "s4"], ["m1"]),
             n("GlobalAveragePool", ["m1"], ["gp"]), n("Flatten", ["gp"], ["fl"]),
             n("MatMul", ["fl", "w3"], ["mm"]), n("Add", ["mm", "b3"], ["y"])]
    inits = _inits(np.random.default_rng(3)) + [_const("s4", np.full((4, 1, 1, 1), 2.0))]
    path = save_graph(tmp_path / "batchwise.onnx", nodes, inits)
    with pytest.raises(Exception, match=r"cannot import 1 op: Mul \(by a constant\) x1"):
        onnx_import.import_onnx(path)


def test_the_equivalence_reference_feeds_the_file_channels_last(tmp_path):
    path = optimized_graph(tmp_path / "keras.onnx")
    imported.clear()
    try:
        request = {"name": "keras", "path": path, "items": 2, "threads": 1,
                   "dir": str(tmp_path)}
        reply = equivalence_worker.reference(request)
        found, inputs = equivalence_worker._probe(request)
        want = ir_numpy.forward(found.model, found.weights, inputs)
    finally:
        imported.clear()
    got = np.load(reply["output"])
    assert ir_numpy.rel_err(got, want) < 1e-5
    assert equivalence.input_spread(got) > 1e-2


def test_a_check_on_outputs_that_ignore_the_input_says_it_proves_nothing():
    constant = np.full((2, 10), 0.1, np.float32)
    assert equivalence.input_spread(constant) == 0.0
    assert equivalence.input_spread(constant[:1]) is None
    varied = np.array([[1.0, 2.0], [1.5, 2.0]], np.float32)
    assert equivalence.input_spread(varied) == pytest.approx(0.25)
    assert equivalence.spread_warning(0.25) is None and equivalence.spread_warning(None) is None
    assert equivalence.spread_warning(1e-10).startswith(
        "warning: the file's outputs barely depend on the input (relative spread 1e-10")

    class Found:
        name, path, sha256, opset = "net", "/m/net.onnx", "0" * 64, 17
        model = type("M", (), {"inputs": [type("S", (), {"shape": (3, 8, 8)})()]})()
    checks = [equivalence.Check("onnx", "script", "same", 0.0)]
    record = equivalence.equivalence_record(Found, checks, 2, "ort", spread=0.0)
    assert record["input_spread"] == 0.0
    assert "cannot tell functions apart" in record["summary"]
    assert "cannot tell" not in equivalence.equivalence_record(Found, checks, 2, "ort",
                                                               spread=0.3)["summary"]
