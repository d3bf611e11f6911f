"""Does an adapter's step cost what the framework call costs? Adapter vs hand-written loops.

For each available framework and inference optimization, the model is built once by its
dlbench adapter; then two loops time the same work:

  adapter   runnable.step() (+ runnable.synchronize()), as the suite measures it
  hand      a minimal loop over the same native object with no dlbench code in it:
            pytorch `module(x)` under torch.inference_mode(), onnx `session.run(None,
            feeds)`, tensorflow the adapter's (tf.)function called directly, mxnet
            `net(x).wait_to_read()`

For ResNet-50 it also times the framework's own model zoo network next to the adapter:
keras.applications.ResNet50(weights=None) (eager, tf.function, XLA) and
mxnet.gluon.model_zoo.vision.resnet50_v1() (imperative, hybridized). Those are ResNet v1
(stride in the first 1x1 conv; the zoo's is v1.5, stride in the 3x3), ~5% fewer MACs at
224 px, and random-initialised: their ratio is a sanity bound, not an identity.

Both sides use the same timing loop (suite._native.time_calls when the extension is built,
else a perf_counter_ns loop), after warm-up, in interleaved repeats (A B A B ...) so that
machine noise hits both alike. Printed: median over repeats of the mean ms per step, and
the ratio adapter / hand (1.00 = no overhead).

    python benchmarks/fidelity.py                        # ResNet-50 b8 224 px, BERT-base b1 128
    python benchmarks/fidelity.py --image-size 112 --seq-len 32 --iterations 5 --repeats 3
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
from typing import Any, Callable

import numpy as np

import frameworks
from frameworks.base import BuildRequest
from suite.models import zoo
from suite.models.weights import make_weights

Fn = Callable[[], object]
Hand = tuple[str, Fn, Callable[[], Any]]   # label, call, context to time it in


# ------------------------------------------------------------------------------ timing

def _timing_loop() -> tuple[str, Callable[[Fn, int], float]]:
    """(name, mean ns per call of fn over n calls); the same loop for both sides."""
    try:
        from suite._native import time_calls
    except ImportError:
        def python_loop(fn: Fn, n: int) -> float:
            clock = time.perf_counter_ns
            t0 = clock()
            for _ in range(n):
                fn()
            return (clock() - t0) / n
        return "time.perf_counter_ns loop", python_loop
    return "suite._native.time_calls", lambda fn, n: float(np.mean(time_calls(fn, n)))


def compare(adapter_fn: Fn, hand: Hand, iterations: int, repeats: int, warmup: int,
            loop: Callable[[Fn, int], float]) -> tuple[float, float, float]:
    """(adapter ms, hand ms, ratio): medians over interleaved repeats."""
    _, hand_fn, context = hand
    loop(adapter_fn, warmup)
    with context():
        loop(hand_fn, warmup)
    a_ms, h_ms = [], []
    for _ in range(repeats):
        a_ms.append(loop(adapter_fn, iterations) / 1e6)
        with context():
            h_ms.append(loop(hand_fn, iterations) / 1e6)
    a, h = statistics.median(a_ms), statistics.median(h_ms)
    return a, h, a / h


# -------------------------------------------------------------------- hand-written loops

def _torch_hand(r: Any, inputs: dict[str, np.ndarray], model: Any) -> Hand:
    import torch
    xs = [torch.from_numpy(np.ascontiguousarray(inputs[s.name])) for s in model.inputs]
    module = r.native
    return "module(x)", lambda: module(*xs), torch.inference_mode


def _onnx_hand(r: Any, inputs: dict[str, np.ndarray], model: Any) -> Hand:
    session = r.session
    feeds = {s.name: np.ascontiguousarray(inputs[s.name]) for s in model.inputs}
    return "session.run(None, feeds)", lambda: session.run(None, feeds), contextlib.nullcontext


def _tf_hand(r: Any, inputs: dict[str, np.ndarray], model: Any) -> Hand:
    fn, xs = r._fn, r._inputs  # the adapter's own (tf.)function and input tensors
    return "fn(x)", lambda: fn(xs, None), contextlib.nullcontext


def _mx_hand(r: Any, inputs: dict[str, np.ndarray], model: Any) -> Hand:
    net, xs = r.net, r._inputs  # the adapter's own block and input NDArrays
    return "net(x).wait_to_read()", lambda: net(*xs).wait_to_read(), contextlib.nullcontext


HAND = {"pytorch": _torch_hand, "onnx": _onnx_hand, "tensorflow": _tf_hand, "mxnet": _mx_hand}


def _keras_resnet50(opt: str, batch: int, size: int) -> Hand:
    import tensorflow as tf
    net = tf.keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, size, size, 3), np.float32))
    call = (lambda t: net(t, training=False))
    if opt != "none":
        call = tf.function(call, jit_compile=opt == "compile")
    return "keras.applications.ResNet50", lambda: call(x), contextlib.nullcontext


def _gluon_resnet50(opt: str, batch: int, size: int) -> Hand:
    from frameworks.mxnet_gluon import _import_mx
    mx = _import_mx()
    net = mx.gluon.model_zoo.vision.resnet50_v1(pretrained=False)
    net.initialize(ctx=mx.cpu())
    if opt == "script":
        net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.array(np.random.default_rng(0).standard_normal((batch, 3, size, size), np.float32))
    return "gluon model_zoo resnet50_v1", lambda: net(x).wait_to_read(), contextlib.nullcontext


ZOO_REFERENCE = {"tensorflow": _keras_resnet50, "mxnet": _gluon_resnet50}


# ---------------------------------------------------------------------------------- run

def _adapters(names: list[str], threads: int) -> dict[str, Any]:
    found = {}
    for name in names:
        try:
            adapter = frameworks.get_adapter(name)
        except ImportError as e:
            print(f"# {name}: skipped, adapter not importable ({e})")
            continue
        if threads:
            adapter.configure_threads(threads, 1)
        av = adapter.availability()
        if not av.ok:
            print(f"# {name}: skipped, {av.reason} ({av.install})")
            continue
        found[name] = adapter
    return found


def _inputs(model: Any, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {t.name: (rng.integers(0, t.high or 2, (batch, *t.shape), dtype=np.int64)
                     if t.dtype.startswith("int")
                     else rng.standard_normal((batch, *t.shape), dtype=np.float32))
            for t in model.inputs}


def run(args: argparse.Namespace) -> list[tuple]:
    loop_name, loop = _timing_loop()
    adapters = _adapters(args.frameworks.split(","), args.threads)
    rows = []
    for model_name, batch in (("resnet50", args.batch or 8), ("bert_base", args.batch or 1)):
        size = args.image_size if zoo.is_image_model(model_name) else args.seq_len
        model = zoo.get_model(model_name, size)
        weights = make_weights(model, 0)
        inputs = _inputs(model, batch)
        for fw, adapter in adapters.items():
            for opt in adapter.optimizations.get("infer", ()):
                if opt not in args.opts.split(",") or adapter.unsupported("infer", opt, "cpu"):
                    continue
                r = adapter.build(BuildRequest(model, weights, "infer", opt, batch))
                r.set_inputs(inputs)

                def step(r: Any = r) -> None:
                    r.step()
                    r.synchronize()

                hands = [HAND[fw](r, inputs, model)]
                if model_name == "resnet50" and fw in ZOO_REFERENCE:
                    hands.append(ZOO_REFERENCE[fw](opt, batch, size))
                for hand in hands:
                    a, h, ratio = compare(step, hand, args.iterations, args.repeats,
                                          args.warmup, loop)
                    rows.append((fw, opt, f"{model_name} b{batch}", a, h, ratio, hand[0]))
                    print_row(rows[-1], flush=True)
                del r, hands
                gc.collect()
    print(f"# timing loop: {loop_name}; {args.iterations} iterations x {args.repeats} "
          f"interleaved repeats after {args.warmup} warm-up steps per side")
    return rows


HEADER = ("framework", "opt", "model", "adapter ms/step", "hand ms/step", "ratio", "hand loop")


def print_row(row: tuple, flush: bool = False) -> None:
    fw, opt, model, a, h, ratio, label = row
    print(f"{fw:<11} {opt:<8} {model:<14} {a:>15.2f} {h:>12.2f} {ratio:>6.3f}  {label}",
          flush=flush)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--frameworks", default=",".join(frameworks.REGISTRY))
    p.add_argument("--opts", default=",".join(frameworks.OPTIMIZATIONS))
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=0,
                   help="batch size for both models (default: 8 ResNet-50, 1 BERT)")
    p.add_argument("--iterations", type=int, default=20, help="steps per repeat and side")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per side first")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    args = p.parse_args()
    print(f"# image size {args.image_size}, sequence length {args.seq_len}")
    print(f"{HEADER[0]:<11} {HEADER[1]:<8} {HEADER[2]:<14} {HEADER[3]:>15} {HEADER[4]:>12} "
          f"{HEADER[5]:>6}  {HEADER[6]}")
    run(args)


if __name__ == "__main__":
    main()
