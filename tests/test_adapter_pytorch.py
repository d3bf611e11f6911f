"""The PyTorch adapter: every IR op against an independent NumPy reference, SGD by hand,
unsupported combinations, threads, out-of-memory mapping, lazy imports."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ir_numpy
from adapter_helpers import import_or_skip
from frameworks.base import BuildRequest, OutOfMemory
from suite.models.ir import OPS, GraphBuilder, Model

torch = import_or_skip("torch", "pytorch", "pip install torch")

from frameworks.pytorch import PyTorchAdapter  # noqa: E402 - after the skip

TOL = 1e-5  # float32 network vs float64 reference: max|a - b| / max|ref|


def edge_graph() -> Model:
    """Corners the shared graphs miss: ceil-mode windows that must start inside the input,
    ceil overhang with zero padding, batch norm on vectors, 3-way add/concat, no-bias dense,
    a ReLU whose input is also used elsewhere (must not run in place)."""
    b = GraphBuilder("edges", "edge cases")
    x = b.input("image", (3, 5, 5))
    c = b.conv("c", x, 6, (3, 1), stride=(2, 1), padding=(1, 0), groups=3)  # 3x5
    r = b.unary("relu", "r", c)                                            # c is reused below
    s = b.add("add", "s3", [r, c, c])
    m1 = b.maxpool("m1", x, 2, 2, padding=1, ceil_mode=True)              # 5 -> 3 (rule)
    a1 = b.avgpool("a1", x, 2, 2, padding=0, ceil_mode=True, count_include_pad=True)  # 5 -> 3
    cat = b.add("concat", "cat", [m1, a1, m1])
    f1 = b.unary("flatten", "f1", s)
    f2 = b.unary("flatten", "f2", cat)
    d1 = b.dense("d1", f1, 7, bias=False)
    d2 = b.dense("d2", f2, 7)
    bn = b.batchnorm("bnv", b.add("add", "sum", [d1, d2]), eps=1e-3)
    return b.build(b.unary("relu", "out", bn), num_classes=7)


GRAPHS = {
    "image": ir_numpy.image_graph,
    "image_lrn4": lambda: ir_numpy.image_graph(lrn_size=4),
    "softmax": ir_numpy.softmax_graph,
    "bert": ir_numpy.bert_graph,
    "edges": edge_graph,
}


def build(model: Model, weights: dict, task: str = "infer", opt: str = "none", batch: int = 2,
          **kw):
    return PyTorchAdapter().build(BuildRequest(model, weights, task, opt, batch, **kw))


def run_infer(model: Model, opt: str, batch: int = 2, **kw) -> tuple[np.ndarray, np.ndarray]:
    """(adapter output, float64 NumPy reference) for random weights and inputs."""
    weights = ir_numpy.random_weights(model)
    inputs = ir_numpy.random_inputs(model, batch)
    r = build(model, weights, opt=opt, batch=batch, **kw)
    r.set_inputs(inputs)
    r.step()
    r.synchronize()
    return r.result(), ir_numpy.forward(model, weights, inputs)


def test_graphs_cover_every_op():
    used = {n.op for make in GRAPHS.values() for n in make().nodes}
    assert used == set(OPS), f"ops without an adapter test: {set(OPS) - used}"


@pytest.mark.parametrize("opt", ["none", "script"])
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_ops_match_numpy_reference(graph, opt):
    out, ref = run_infer(GRAPHS[graph](), opt)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert ir_numpy.rel_err(out, ref) <= TOL


@pytest.mark.slow
def test_compile_matches_numpy_reference():
    """torch.compile on the two graphs that hold every op (one compile each: inductor is slow)."""
    for graph in ("image", "bert"):
        out, ref = run_infer(GRAPHS[graph](), "compile")
        assert ir_numpy.rel_err(out, ref) <= TOL, graph


def test_bfloat16_autocast_is_close_and_returns_float32():
    out, ref = run_infer(ir_numpy.image_graph(), "none", dtype="bfloat16")
    assert out.dtype == np.float32
    assert 1e-6 < ir_numpy.rel_err(out, ref) <= 5e-2  # bf16 has ~3 significant digits


def test_param_count_matches_model():
    for make in GRAPHS.values():
        model = make()
        r = build(model, ir_numpy.random_weights(model))
        assert r.param_count() == model.param_count()
        assert set(r.parameters()) == set(model.trainable_param_shapes())


def sgd_graph() -> Model:
    b = GraphBuilder("sgd", "dense classifier")
    x = b.input("x", (5,))
    d = b.dense("fc", x, 3)
    return b.build(b.add("dropout", "drop", [d], rate=0.5), num_classes=3)


def _hand_sgd(w, bias, x, labels, lr, momentum, wd, steps):
    """Softmax cross-entropy (batch mean) + torch.optim.SGD's update, written out."""
    buf_w = buf_b = None
    losses = []
    for _ in range(steps):
        logits = x @ w.T + bias
        e = np.exp(logits - logits.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        onehot = np.eye(3)[labels]
        losses.append(-np.mean(np.log(p[np.arange(len(labels)), labels])))
        g_logits = (p - onehot) / len(labels)
        gw = g_logits.T @ x + wd * w
        gb = g_logits.sum(0) + wd * bias
        buf_w = gw if buf_w is None else momentum * buf_w + gw
        buf_b = gb if buf_b is None else momentum * buf_b + gb
        w, bias = w - lr * buf_w, bias - lr * buf_b
    return w, bias, losses


@pytest.mark.parametrize("opt", ["none", "script"])
def test_sgd_steps_match_hand_computation(opt):
    model = sgd_graph()
    weights = ir_numpy.random_weights(model)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    r = build(model, weights, task="train", opt=opt, batch=4, lr=0.1, momentum=0.9,
              weight_decay=0.01, dropout=False)
    r.set_inputs({"x": x}, labels)
    losses = []
    for _ in range(2):  # the second step exercises the momentum buffer
        r.step()
        losses.append(float(r.result()))
    assert r.result().shape == ()
    w, bias, ref_losses = _hand_sgd(weights["fc.weight"].astype(np.float64),
                                    weights["fc.bias"].astype(np.float64), x.astype(np.float64),
                                    labels, 0.1, 0.9, 0.01, 2)
    params = r.parameters()
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(params["fc.weight"], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["fc.bias"], bias, rtol=1e-5, atol=1e-6)
    assert not np.allclose(params["fc.weight"], weights["fc.weight"])  # it did move


def test_train_updates_every_trainable_parameter():
    """BN gamma/beta and biases included; the caller's weight arrays are left untouched."""
    model = ir_numpy.image_graph()
    weights = ir_numpy.random_weights(model)
    before = {k: v.copy() for k, v in weights.items()}
    r = build(model, weights, task="train", batch=3)
    inputs = ir_numpy.random_inputs(model, 3)
    r.set_inputs(inputs, np.array([1, 4, 9]))
    r.step()
    assert np.isfinite(r.result()) and r.result().shape == ()
    after = r.parameters()
    assert set(after) == set(model.trainable_param_shapes())
    unchanged = [k for k in after if np.array_equal(after[k], before[k])]
    assert unchanged == []
    assert all(np.array_equal(weights[k], before[k]) for k in weights)


def test_train_needs_labels():
    model = sgd_graph()
    r = build(model, ir_numpy.random_weights(model), task="train", batch=2)
    with pytest.raises(ValueError, match="labels"):
        r.set_inputs({"x": np.zeros((2, 5), np.float32)})


def test_result_before_step_raises():
    model = sgd_graph()
    r = build(model, ir_numpy.random_weights(model))
    r.set_inputs({"x": np.zeros((2, 5), np.float32)})
    with pytest.raises(RuntimeError, match="before step"):
        r.result()


def test_cpu_runnable_has_no_stream_or_allocator_figures():
    model = sgd_graph()
    r = build(model, ir_numpy.random_weights(model))
    assert r.stream_handle() is None and r.memory_mib() == {}
    r.synchronize()  # a no-op on CPU


def test_unsupported_combinations_have_reasons():
    a = PyTorchAdapter()
    assert a.unsupported("infer", "compile", "cpu") is None
    assert a.unsupported("train", "script", "cpu") is None
    assert "optimization" in a.unsupported("infer", "xla", "cpu")
    assert "float16" in a.unsupported("infer", "none", "cpu", "float16")
    assert a.unsupported("infer", "none", "cpu", "bfloat16") is None
    assert "device" in a.unsupported("infer", "none", "tpu")
    # whether a device exists is the worker's availability, never unsupported()'s
    assert a.unsupported("infer", "none", "cuda") is None
    if not torch.cuda.is_available():
        assert "CUDA" in a.availability().device_reason
        mlp = ir_numpy.softmax_graph()
        with pytest.raises(NotImplementedError, match="CUDA"):
            build(mlp, ir_numpy.random_weights(mlp), device="cuda")
    bert = ir_numpy.bert_graph()
    with pytest.raises(NotImplementedError, match="training is defined for image classifiers"):
        build(bert, ir_numpy.random_weights(bert), task="train")
    with pytest.raises(NotImplementedError, match="float16"):
        build(bert, ir_numpy.random_weights(bert), dtype="float16")


def test_availability_reports_version_and_devices():
    av = PyTorchAdapter().availability()
    assert av.ok and av.version == torch.__version__
    assert ("cuda" in av.devices) == torch.cuda.is_available()


def test_out_of_memory_becomes_outofmemory():
    from frameworks.pytorch import _oom_as_outofmemory
    with pytest.raises(OutOfMemory, match="can't allocate memory"):
        with _oom_as_outofmemory(torch):
            torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: refused by the CPU allocator
    with pytest.raises(OutOfMemory):
        with _oom_as_outofmemory(torch):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(RuntimeError, match="shape mismatch") as info:
        with _oom_as_outofmemory(torch):
            raise RuntimeError("shape mismatch")
    assert not isinstance(info.value, OutOfMemory)


def _in_fresh_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_configure_threads_sets_torch_threads():
    """In a fresh process: thread settings are process-wide and inter-op can be set once."""
    code = ("from frameworks.pytorch import PyTorchAdapter\n"
            "a = PyTorchAdapter(); a.configure_threads(3, 2); a.configure_threads(1, 1)\n"
            "import torch; print(torch.get_num_threads(), torch.get_num_interop_threads())")
    assert _in_fresh_python(code) == "1 2"  # the second inter-op setting is refused quietly


def test_importing_adapters_imports_no_framework():
    code = ("import sys, frameworks, frameworks.pytorch, frameworks.onnx_runtime\n"
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    assert _in_fresh_python(code) == "[]"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_reference_and_reports_memory():
    out, ref = run_infer(ir_numpy.image_graph(), "none")
    model = ir_numpy.image_graph()
    r = build(model, ir_numpy.random_weights(model), device="cuda")
    r.set_inputs(ir_numpy.random_inputs(model, 2))
    r.step()
    r.synchronize()
    assert ir_numpy.rel_err(r.result(), ref) <= 1e-4  # TF32 may be on for convs
    assert isinstance(r.stream_handle(), int)
    assert r.memory_mib()["torch_allocated_peak_mib"] > 0
