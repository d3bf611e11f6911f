"""Inference equivalence: every zoo model in every available framework and optimization
computes what PyTorch eager computes, from the same weights and the same input.

- Models: every name in suite.models.zoo.MODEL_NAMES at a reduced input size (images
  max(64, zoo.min_input_size(name)) px, BERT 16 tokens), batch 2, weights from
  suite.models.weights.make_weights(model, seed=0), float32 on CPU.
- Frameworks: every entry of frameworks.REGISTRY x every optimization of
  frameworks.OPTIMIZATIONS; a combination is skipped, with the reason, when its framework
  is unavailable here (a failure instead where DLBENCH_REQUIRE_FRAMEWORKS requires it, as
  in CI), or adapter.unsupported() says the combination does not exist (e.g. ONNX Runtime
  has no `compile`).
- Agreement: relative error = max|out - ref| / max|ref| over the whole output tensor (one
  figure per output; an element-wise relative error is meaningless where ref is near 0)
  must be <= 1e-4 for every framework and optimization. Measured worst cases over the zoo:
  pytorch script 2.1e-6, compile 1.1e-6; onnx 1.6e-6; tensorflow 2.5e-6 (all three modes);
  mxnet 2.5e-6. No framework needs a looser bound so far: add one to TOLERANCE, with the
  reason, if it does. (Each figure is in --junitxml reports as the `rel_err` property.)
- Each built network's param_count() must equal model.param_count().
- The reference is checked not to be degenerate (finite, non-zero, different for the two
  batch items), or every comparison with it would pass vacuously.
- Subsets of the classic models (measured on 2 CPU cores; the whole file must stay within
  a few minutes):
  * PyTorch `compile`: inductor takes ~20-60 s per model from a cold cache (ResNet-18
    ~30 s, Inception-v3 ~120 s), >10 min for the 17 models. Covered on resnet18 (conv, batch
    norm, max pool, residual add, global average, dense) and bert_base (embeddings, layer
    norm, attention, GELU, first token); the other ops (ceil-mode pools, LRN, grouped conv,
    concat, average pools, flatten, softmax) are covered by tests/test_adapter_pytorch.py's
    compile test against the NumPy reference.
  * TensorFlow `compile` (XLA): ~1-13 s per model, growing with depth (64 s for all 17).
  * Each framework's other mode besides `script` (TF eager, MXNet imperative, ORT with graph
    optimizations off) builds the same graph as its `script` mode, which runs on every
    model.
  These run on COVERING_MODELS, which hold every op and block pattern of the zoo once (LRN
  and flatten, ceil-mode pools and concat, average pools, asymmetric convs, basic and
  bottleneck blocks, grouped convs, attention); NiN, ResNet-34, VGG16/19 and the deep
  ResNets only repeat those (the suite's 15-minute budget on 2 cores).
  Every other combination runs on every model.
- The five modern CNNs outside the default lists (zoo.MODERN_MODEL_NAMES: MobileNetV2,
  MobileNetV3-Large, EfficientNet-B0, ShuffleNetV2, DenseNet-121) run here in the modes
  tests/test_onnx_import.py does not: pytorch script, mxnet, tensorflow and onnx
  unoptimized. That test runs each framework's deployed mode (pytorch eager, mxnet
  hybridized, tf.function, ORT optimized) on the description imported back from the
  network's ONNX export, which it asserts identical to the zoo's (ops, attributes, shapes,
  wiring, weights). Compile modes: their ops are compiled in the tiny graphs
  (tests/ir_numpy.py's mobile branch, in test_adapter_pytorch / test_adapter_semantics).
  Their weights are make_weights' with batch-norm statistics calibrated on one batch
  (tests/zoo_helpers.py), which normalises every batch norm's input. Measured worst case: 1.0e-5 (mxnet unoptimized, ShuffleNetV2).
"""
from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

import frameworks
from adapter_helpers import import_or_skip, skip_or_fail
from frameworks.base import BuildRequest
from suite.models import weights as weights_mod
from suite.models import zoo

BATCH = 2
SEQ_LEN = 16
DEFAULT_TOL = 1e-4
TOLERANCE: dict[tuple[str, str], tuple[float, str]] = {}   # (framework, opt) -> (tol, why)
# every op and block pattern of the zoo once: LRN and flatten, ceil-mode pools and concat,
# average pools, asymmetric convs, basic and bottleneck blocks, grouped convs, attention
COVERING_MODELS = ("caffenet", "squeezenet", "inception_bn", "inception_v3", "resnet18",
                   "resnet50", "resnext50", "bert_base")
SUBSETS = {  # (framework, opt) -> the models it is checked on; see the module docstring
    ("pytorch", "compile"): ("resnet18", "bert_base"),
    ("tensorflow", "compile"): COVERING_MODELS,
    ("tensorflow", "none"): COVERING_MODELS,
    ("mxnet", "none"): COVERING_MODELS,
    ("onnx", "none"): COVERING_MODELS,
}
REFERENCE = ("pytorch", "none")
MODERN_COMBOS = (REFERENCE, ("pytorch", "script"), ("mxnet", "none"), ("tensorflow", "none"),
                 ("onnx", "none"))


def input_size(name: str) -> int:
    return max(64, zoo.min_input_size(name)) if zoo.is_image_model(name) else SEQ_LEN


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """max|out - ref| / max|ref| over the whole tensor."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))


_ADAPTERS: dict[str, Any] = {}


def adapter_or_skip(framework: str) -> Any:
    """The adapter, or a skip saying why it cannot run here (a failure where the framework
    is required, see adapter_helpers); cached per session."""
    if framework not in _ADAPTERS:
        adapter = frameworks.get_adapter(framework)
        av = adapter.availability()
        if not av.ok:
            adapter = f"{framework} unavailable: {av.reason} ({av.install})"
        _ADAPTERS[framework] = adapter
    adapter = _ADAPTERS[framework]
    if isinstance(adapter, str):
        skip_or_fail(framework, adapter)
    return adapter


def build_and_run(framework: str, opt: str, case: dict) -> tuple[np.ndarray, int]:
    adapter = adapter_or_skip(framework)
    reason = adapter.unsupported("infer", opt, "cpu")
    if reason:
        pytest.skip(f"{framework} {opt}: {reason}")
    runnable = adapter.build(BuildRequest(model=case["model"], weights=case["weights"],
                                          task="infer", optimization=opt, batch_size=BATCH))
    runnable.set_inputs(case["inputs"])
    runnable.step()
    runnable.synchronize()
    out, count = runnable.result(), runnable.param_count()
    del runnable
    gc.collect()
    return out, count


@pytest.fixture(scope="module", params=zoo.MODEL_NAMES + zoo.MODERN_MODEL_NAMES)
def case(request) -> Any:
    """Model, weights, inputs and the PyTorch eager output, built once per model."""
    name = request.param
    model = zoo.get_model(name, input_size(name))
    weights = weights_mod.make_weights(model, 0)
    if name in zoo.MODERN_MODEL_NAMES:
        import_or_skip("torch", "pytorch", "pip install torch")
        from zoo_helpers import calibrated_weights
        weights = calibrated_weights(model, weights)
    rng = np.random.default_rng(1)
    inputs = {}
    for t in model.inputs:
        shape = (BATCH, *t.shape)
        inputs[t.name] = rng.integers(0, t.high or 2, shape, dtype=np.int64) \
            if t.dtype.startswith("int") else rng.standard_normal(shape, dtype=np.float32)
    data = {"name": name, "model": model, "inputs": inputs, "weights": weights}
    data["reference"], data["reference_params"] = build_and_run(*REFERENCE, data)
    yield data
    data.clear()
    gc.collect()


def _combinations() -> list[Any]:
    return [pytest.param(fw, opt, id=f"{fw}-{opt}")
            for fw in frameworks.REGISTRY for opt in frameworks.OPTIMIZATIONS]


@pytest.mark.slow
@pytest.mark.parametrize("framework, opt", _combinations())
def test_inference_matches_pytorch_eager(case, framework, opt, record_property):
    model, ref = case["model"], case["reference"]
    if (framework, opt) == REFERENCE:
        assert case["reference_params"] == model.param_count()
        assert np.all(np.isfinite(ref)) and np.max(np.abs(ref)) > 0
        assert rel_err(ref[0], ref[1]) > 1e-3, "both batch items give the same output"
        return
    if case["name"] in zoo.MODERN_MODEL_NAMES and (framework, opt) not in MODERN_COMBOS:
        reason = adapter_or_skip(framework).unsupported("infer", opt, "cpu")
        pytest.skip(f"{framework} {opt}: {reason}" if reason else
                    f"{framework} {opt} is checked on {case['name']} by test_onnx_import.py, "
                    "or for compile modes on the tiny graphs (see the module docstring)")
    subset = SUBSETS.get((framework, opt))
    if subset is not None and case["name"] in zoo.MODEL_NAMES and case["name"] not in subset:
        pytest.skip(f"{framework} {opt} is checked on the models that hold every op and "
                    "block pattern (see the module docstring)")
    out, count = build_and_run(framework, opt, case)
    assert count == model.param_count()
    assert out.shape == ref.shape
    tol, _why = TOLERANCE.get((framework, opt), (DEFAULT_TOL, ""))
    err = rel_err(out, ref)
    record_property("rel_err", err)  # in --junitxml reports
    assert err <= tol
