"""Imported models in the suite: the registry the CLI fills (`--model-file`, `--models
file:...`, `--model-name`), the zoo's view of them, their weights, `models --model-file`'s
text, and the equivalence check against ONNX Runtime running the original file."""
from __future__ import annotations

import os

import numpy as np
import pytest

import ir_numpy
from adapter_helpers import import_or_skip
from suite.errors import UsageError
from suite import equivalence
from suite.models import imported, zoo
from suite.equivalence import Check
from suite.models.ir import GraphBuilder, Model
from suite.models.weights import make_weights

onnx = import_or_skip("onnx", "onnx", "pip install onnx onnxruntime")


def tiny_model() -> Model:
    """ir_numpy.mobile_branch behind a stem conv, global average and a 7-class dense layer."""
    b = GraphBuilder("tiny", "tiny")
    x = b.conv("stem", b.input("data", (3, 12, 12)), 8, 3, stride=2, padding=1)
    x = b.global_avgpool("pool", ir_numpy.mobile_branch(b, x))
    return b.build(b.dense("fc", x, 7), num_classes=7)


@pytest.fixture()
def tiny_file(tmp_path) -> tuple[str, Model, dict]:
    """tiny_model exported through the ONNX adapter's builder (no torch needed)."""
    from frameworks._onnx_graph import build_onnx
    model = tiny_model()
    weights = ir_numpy.random_weights(model, seed=3)
    proto, _ = build_onnx(model, weights)
    path = str(tmp_path / "tiny-net.onnx")
    onnx.save(proto, path)
    return path, model, weights


@pytest.fixture(autouse=True)
def empty_registry():
    imported.clear()
    yield
    imported.clear()


def test_resolve_registers_files_under_their_names(tiny_file, tmp_path):
    path, model, weights = tiny_file
    other = str(tmp_path / "other.onnx")
    os.link(path, other)
    assert imported.resolve_model_files([path, other], ["mine"]) == ["mine", "other"]
    assert imported.model_files_setting() == {"mine": path, "other": other}
    found = zoo.get_model("mine")
    assert found.name == "mine" and found.param_count() == model.param_count()
    assert zoo.title("mine") == "mine" and zoo.is_image_model("mine") and zoo.is_imported("mine")
    assert zoo.input_shape("mine") == (3, 12, 12) == zoo.input_shape("mine", 64)
    assert zoo.default_input_size("mine") == zoo.min_input_size("mine") == 12
    assert zoo.get_model("mine", 12) is found
    with pytest.raises(UsageError, match=r"mine: the model file fixes the input at 3x12x12; "
                                         r"image size 64 cannot apply"):
        zoo.get_model("mine", 64)
    row, = zoo.describe_zoo(("mine",), image_size=64)
    assert row["input_shape"] == (3, 12, 12) and row["params"] == model.param_count()
    assert not zoo.is_imported("resnet50")


def test_an_imported_model_carries_its_own_weights(tiny_file):
    path, model, weights = tiny_file
    imported.resolve_model_files([path])
    found = zoo.get_model("tiny-net")
    got = imported.model_weights(found, seed=0)
    assert list(got) == list(found.param_shapes())
    for ours, theirs in zip(model.param_shapes(), found.param_shapes()):
        np.testing.assert_array_equal(got[theirs], weights[ours])
    assert imported.file_weights(found) is got
    r18 = zoo.get_model("resnet18", 32)                 # a zoo model: the drawn weights
    assert imported.file_weights(r18) is None
    drawn = imported.model_weights(r18, seed=0)
    np.testing.assert_array_equal(drawn["fc.bias"], make_weights(r18, 0)["fc.bias"])


def test_a_worker_registers_from_the_settings(tiny_file):
    path, _, _ = tiny_file
    imported.resolve_model_files([path], ["net"])
    setting = imported.model_files_setting()
    first = imported.lookup("net")
    imported.clear()
    with pytest.raises(UsageError, match="unknown model 'net'"):
        zoo.get_model("net")
    imported.register_model_files(setting)
    assert imported.lookup("net") is first           # cached: the file is imported once


@pytest.mark.parametrize("paths, names, message", [
    (["a.onnx", "b/a.onnx"], [], "2 model files are named 'a'; give them different names"),
    (["a.onnx"], ["x", "y"], "2 --model-name values for 1 model files"),
    (["resnet50.onnx"], [], "the name 'resnet50' is a zoo model's; pass another"),
    (["a.onnx"], ["file:x"], "'file:x' is not a usable model name"),
    (["missing.onnx"], [], "missing.onnx: no such file"),
])
def test_resolve_refusals(tmp_path, paths, names, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")):
        imported.resolve_model_files([str(tmp_path / p) for p in paths], names)
    assert imported.registered_names() == ()


def test_models_option_items():
    assert imported.split_models_option(["resnet50", "file:a.onnx", "file:/x/b.onnx", "vgg16"]) \
        == (["resnet50", "vgg16"], ["a.onnx", "/x/b.onnx"])


def test_describe_model_file(tiny_file):
    path, model, _ = tiny_file
    text = imported.describe_model_file(path)
    lines = text.splitlines()
    assert lines[0] == f"tiny-net: {path}"
    assert "  input        3x12x12 (batch symbolic; every batch size runs)" in lines
    assert "  output       7 (7 classes)" in lines
    assert f"  parameters   {model.param_count():,}" in lines
    from suite.models.counts import macs_per_item
    assert f"  GMACs        {macs_per_item(model) / 1e9:.3f} per image" in lines
    assert "  ops          conv 6, clip 2, global_avgpool 2, hardsigmoid 2, mul 2, silu 2, " \
           "slice 2, batchnorm 1, channel_shuffle 1, concat 1, dense 1, hardswish 1, " \
           "layernorm 1, pad 1, sigmoid 1" in lines
    assert any(line.startswith("  ONNX ops     Conv 6, ") for line in lines)


# ------------------------------------------------------------------ equivalence

def test_judging_and_the_summary_line():
    ref = np.array([[1.0, -2.0], [0.5, 4.0]], np.float32)
    assert equivalence.judge("pytorch", "none", ref + 4e-6, ref) == \
        Check("pytorch", "none", "same", pytest.approx(1e-6, rel=0.05))
    differs = equivalence.judge("mxnet", "script", ref * 1.01, ref)
    assert differs.status == "differs" and differs.max_rel_err == pytest.approx(0.01)
    assert equivalence.judge("onnx", "none", ref[:1], ref).message == \
        "output shape (1, 2) differs from the file's (2, 2)"
    same = [Check("pytorch", "none", "same", 3e-6), Check("pytorch", "script", "same", 1e-6),
            Check("tensorflow", "script", "same", 2.5e-6), Check("onnx", "script", "same", 0.0)]
    assert equivalence.summary_line(same) == \
        "same function: max relative error 3e-6 across 3 frameworks"
    mixed = same + [differs, Check("mxnet", "none", "failed", None, "RuntimeError: boom"),
                    Check("onnx", "compile", "skipped", None, "no compile")]
    assert equivalence.summary_line(mixed) == (
        "differs from the file: mxnet (script) max relative error 1e-2 > 1e-4; same function: "
        "max relative error 3e-6 across 3 frameworks; not checked: mxnet (none: RuntimeError: "
        "boom)")
    assert equivalence.sci(1.23e-5) == "1.2e-5" and equivalence.sci(0.0) == "0"


@pytest.mark.slow
def test_check_model_runs_every_framework_against_the_file(tiny_file):
    """The whole check, worker processes included: each framework's deployed mode and ORT
    unoptimized computes the file's function; a combination that does not exist is
    skipped, an unknown framework fails; the record and the flags say so."""
    import frameworks
    path, _, _ = tiny_file
    imported.resolve_model_files([path])
    combos = [(fw, frameworks.deployed_optimization(fw, "infer")) for fw in frameworks.REGISTRY]
    combos += [("onnx", "none"), ("onnx", "compile"), ("nosuch", "none")]
    record = equivalence.check_model("tiny-net", combos, threads=1)
    by = {(c["framework"], c["optimization"]): c for c in record["checks"]}
    for fw, opt in combos[:-2]:
        assert by[fw, opt]["status"] == "same", by[fw, opt]
        assert by[fw, opt]["max_rel_err"] < 1e-5
        assert equivalence.flag(record, fw, opt) is None
    assert by["onnx", "compile"]["status"] == "skipped"
    assert by["nosuch", "none"]["status"] == "failed"
    assert equivalence.flag(record, "nosuch", "none").startswith("equivalence not verified: ")
    assert record["model"] == "tiny-net" and record["file"] == path
    assert record["probe"] == {"items": 2, "seed": equivalence.PROBE_SEED,
                               "distribution": "standard normal", "input_shape": [3, 12, 12]}
    assert record["reference"].startswith("onnxruntime ") and record["tolerance"] == 1e-4
    assert record["summary"].startswith(
        f"same function: max relative error {equivalence.sci(record['max_rel_err'])} "
        "across 4 frameworks; not checked: nosuch (none: ")


def test_a_framework_beyond_tolerance_is_flagged():
    record = {"file": "/models/net.onnx", "tolerance": 1e-4, "checks": [
        {"framework": "mxnet", "optimization": "script", "status": "differs",
         "max_rel_err": 3e-2, "message": ""},
        {"framework": "mxnet", "optimization": "none", "status": "same",
         "max_rel_err": 2e-6, "message": ""}]}
    assert equivalence.flag(record, "mxnet", "script") == \
        "differs from net.onnx: max relative error 3e-2 > 1e-4"
    assert equivalence.flag(record, "mxnet", "none") is None
    assert equivalence.flag(record, "pytorch", "none") is None


def test_check_model_needs_an_imported_model():
    with pytest.raises(UsageError, match="resnet50: not an imported model"):
        equivalence.check_model("resnet50", [("pytorch", "none")])
