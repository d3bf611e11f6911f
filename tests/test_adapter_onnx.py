"""The ONNX Runtime adapter: every IR op against an independent NumPy reference, the ONNX
graph itself (checker, opset, dynamic batch), session options, unsupported combinations."""
from __future__ import annotations

import numpy as np
import pytest

import ir_numpy
from adapter_helpers import import_or_skip
from frameworks.base import BuildRequest, OutOfMemory
from suite.models.ir import OPS, GraphBuilder, Model

onnx = import_or_skip("onnx", "onnx", "pip install onnx onnxruntime")
ort = import_or_skip("onnxruntime", "onnx", "pip install onnx onnxruntime")

from frameworks._onnx_graph import OPSET, build_onnx, checked_bytes  # noqa: E402 - after skips
from frameworks import onnx_runtime  # noqa: E402
from frameworks.onnx_runtime import OnnxRuntimeAdapter, _oom, session_providers  # noqa: E402

TOL = 1e-5  # float32 network vs float64 reference: max|a - b| / max|ref|


def pooling_graph() -> Model:
    """Pool windows ONNX's own ceil_mode would get wrong or that need the explicit-pad forms:
    a last window that must start inside the input, ceil overhang counted / not counted with
    and without symmetric padding, plus batch norm on vectors and 3-way add / concat."""
    b = GraphBuilder("pools", "pooling corners")
    x = b.input("image", (3, 5, 5))
    m = b.maxpool("m", x, 2, 2, padding=1, ceil_mode=True)                      # 5 -> 3
    a0 = b.avgpool("a0", x, 2, 2, padding=0, ceil_mode=True, count_include_pad=True)   # 3
    a1 = b.avgpool("a1", x, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)   # 3
    a2 = b.avgpool("a2", x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)  # 3
    s = b.add("add", "s", [a0, a1, a2])
    cat = b.add("concat", "cat", [m, s, m])
    f = b.unary("flatten", "f", cat)
    d = b.dense("d", f, 6, bias=False)
    bn = b.batchnorm("bnv", d, eps=1e-3)
    return b.build(bn, num_classes=6)


GRAPHS = {
    "image": ir_numpy.image_graph,
    "image_lrn4": lambda: ir_numpy.image_graph(lrn_size=4),  # even LRN: the band-conv form
    "softmax": ir_numpy.softmax_graph,
    "bert": ir_numpy.bert_graph,
    "pools": pooling_graph,
}


def build(model: Model, weights: dict, opt: str = "none", adapter=None, **kw):
    adapter = adapter or OnnxRuntimeAdapter()
    return adapter.build(BuildRequest(model, weights, kw.pop("task", "infer"), opt,
                                      kw.pop("batch", 2), **kw))


def test_graphs_cover_every_op():
    used = {n.op for make in GRAPHS.values() for n in make().nodes}
    assert used == set(OPS), f"ops without an adapter test: {set(OPS) - used}"


@pytest.mark.parametrize("opt", ["none", "script"])
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_ops_match_numpy_reference(graph, opt):
    model = GRAPHS[graph]()
    weights = ir_numpy.random_weights(model)
    inputs = ir_numpy.random_inputs(model, 2)
    r = build(model, weights, opt)
    r.set_inputs(inputs)
    r.step()
    r.synchronize()
    out, ref = r.result(), ir_numpy.forward(model, weights, inputs)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert ir_numpy.rel_err(out, ref) <= TOL


def test_lrn_matches_torch_alpha_convention():
    """ONNX LRN divides alpha by size like Caffe and PyTorch: checked against torch itself."""
    torch = import_or_skip("torch", "pytorch", "pip install torch")
    b = GraphBuilder("lrn", "lrn")
    x = b.input("image", (7, 3, 3))
    model = b.build(b.add("lrn", "n", [x], size=5, alpha=0.5, beta=0.75, k=1.5))
    inputs = ir_numpy.random_inputs(model, 2)
    r = build(model, {})
    r.set_inputs(inputs)
    r.step()
    ref = torch.nn.LocalResponseNorm(5, 0.5, 0.75, 1.5)(torch.from_numpy(inputs["image"]))
    np.testing.assert_allclose(r.result(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_graph_is_checked_opset_model_with_dynamic_batch():
    model = ir_numpy.bert_graph()
    proto, count = build_onnx(model, ir_numpy.random_weights(model))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == OPSET >= 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [6]
    assert count == model.param_count()
    assert {i.name for i in proto.graph.initializer} >= set(model.trainable_param_shapes())


def test_checker_runs_on_the_serialized_model():
    model = ir_numpy.softmax_graph()
    proto, _ = build_onnx(model, ir_numpy.random_weights(model))
    assert onnx.load_from_string(checked_bytes(proto)) == proto
    proto.graph.node[0].input[0] = "no_such_tensor"
    with pytest.raises(onnx.checker.ValidationError):
        checked_bytes(proto)


def test_one_session_serves_any_batch_size():
    model = ir_numpy.softmax_graph()
    weights = ir_numpy.random_weights(model)
    r = build(model, weights)
    for batch in (1, 3):
        inputs = ir_numpy.random_inputs(model, batch)
        r.set_inputs(inputs)
        r.step()
        assert ir_numpy.rel_err(r.result(), ir_numpy.forward(model, weights, inputs)) <= TOL


def test_param_count_matches_model():
    for make in GRAPHS.values():
        model = make()
        assert build(model, ir_numpy.random_weights(model)).param_count() == model.param_count()


def test_session_options_follow_optimization_and_threads():
    model = ir_numpy.softmax_graph()
    weights = ir_numpy.random_weights(model)
    adapter = OnnxRuntimeAdapter()
    adapter.configure_threads(1, 2)
    levels = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "script": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    for opt, level in levels.items():
        options = build(model, weights, opt, adapter).session.get_session_options()
        assert options.graph_optimization_level == level
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 2)
        assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def test_unsupported_combinations_have_reasons():
    a = OnnxRuntimeAdapter()
    assert a.unsupported("infer", "none", "cpu") is None
    assert a.unsupported("infer", "script", "cpu") is None
    assert a.unsupported("train", "none", "cpu") == "ONNX Runtime is inference only"
    assert "compile" in a.unsupported("infer", "compile", "cpu")
    assert "float32" in a.unsupported("infer", "none", "cpu", "bfloat16")
    assert a.unsupported("infer", "none", "cuda") is None   # the worker's availability says
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "onnxruntime-gpu" in a.availability().device_reason
        mlp = ir_numpy.softmax_graph()
        with pytest.raises(NotImplementedError, match="onnxruntime-gpu"):
            build(mlp, ir_numpy.random_weights(mlp), device="cuda")
    model = ir_numpy.image_graph()
    with pytest.raises(NotImplementedError, match="inference only"):
        build(model, ir_numpy.random_weights(model), task="train")


def test_runnable_basics():
    model = ir_numpy.softmax_graph()
    r = build(model, ir_numpy.random_weights(model))
    r.set_inputs(ir_numpy.random_inputs(model, 2))
    with pytest.raises(RuntimeError, match="before step"):
        r.result()
    assert r.stream_handle() is None and r.memory_mib() == {}
    with pytest.raises(NotImplementedError, match="initializers"):
        r.parameters()


def test_cuda_provider_options_carry_the_stream():
    """The CUDA provider computes on the stream the measurement loop records events on."""
    (name, options), *rest = session_providers(0x7F00DEAD)
    assert name == "CUDAExecutionProvider" and rest == ["CPUExecutionProvider"]
    assert options["user_compute_stream"] == str(0x7F00DEAD)
    assert options["has_user_compute_stream"] == "1" and options["device_id"] == "0"
    assert session_providers(None) == ["CPUExecutionProvider"]


def test_a_cuda_session_gets_and_exposes_its_stream(monkeypatch):
    """Without a GPU: the session is a fake that keeps its providers; the stream handed to
    it is the one stream_handle() gives the loop."""
    made = []

    class FakeSession:
        def __init__(self, data, options, providers):
            made.append(providers)

    monkeypatch.setattr(onnx_runtime, "compute_stream", lambda device=0: 4242)
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    monkeypatch.setattr(OnnxRuntimeAdapter, "availability",
                        lambda self: onnx_runtime.Availability(True, devices=("cpu", "cuda")))
    model = ir_numpy.softmax_graph()
    r = build(model, ir_numpy.random_weights(model), device="cuda")
    assert r.stream_handle() == 4242
    assert made == [session_providers(4242)]
    assert build(model, ir_numpy.random_weights(model)).stream_handle() is None


def test_compute_stream_without_cuda_says_why():
    from suite import _native
    if _native.cuda_available():
        pytest.skip("a CUDA driver is present")
    with pytest.raises(RuntimeError, match="CUDA not available"):
        onnx_runtime.compute_stream(0)


def test_availability_reports_version():
    av = OnnxRuntimeAdapter().availability()
    assert av.ok and av.version == ort.__version__


def test_allocation_failures_become_outofmemory():
    assert isinstance(_oom(RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : "
                                        "Failed to allocate memory for requested buffer")),
                      OutOfMemory)
    assert isinstance(_oom(RuntimeError("std::bad_alloc")), OutOfMemory)
    assert _oom(RuntimeError("Invalid rank for input")) is None


@pytest.mark.gpu
@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(),
                    reason="onnxruntime has no CUDAExecutionProvider (needs onnxruntime-gpu)")
def test_cuda_provider_binds_on_device_and_matches_reference():
    model = ir_numpy.image_graph()
    weights = ir_numpy.random_weights(model)
    inputs = ir_numpy.random_inputs(model, 2)
    r = build(model, weights, "script", device="cuda")
    assert r.session.get_providers()[0] == "CUDAExecutionProvider"
    r.set_inputs(inputs)
    r.step()
    r.synchronize()
    assert ir_numpy.rel_err(r.result(), ir_numpy.forward(model, weights, inputs)) <= 1e-4
