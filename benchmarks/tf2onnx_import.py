"""A file other people made: Keras' MobileNetV2 (weights=None) exported by tf2onnx, imported
by dlbench (`--model-file`), and checked against ONNX Runtime on the file.

Needs tensorflow and tf2onnx (`pip install --no-deps tf2onnx`: its own pins are loose, and
it works beside TF 2.21 / Keras 3 here); not part of the test suite, which checks the same
op patterns on hand-built graphs (tests/test_onnx_import.py, channels-last input).

    python benchmarks/tf2onnx_import.py --size 96 --out /tmp/tf2onnx

prints the file's op histogram, the imported description's ops, and the largest relative
error of the description (run by a plain numpy reading of the IR, tests/ir_numpy.py, and
by each installed framework through `python -m suite infer --model-file`'s equivalence
check) against ONNX Runtime on the file.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def export(size: int, path: str, optimize: bool, as_is: bool) -> None:
    """Keras' MobileNetV2, weights=None, to ONNX. Untrained, its softmax is 0.001 for every
    class and input (a constant, which any function matches): unless `as_is`, the logits are
    exported and every batch norm's moving statistics are set to one random batch's, so
    the outputs depend on the input."""
    import tensorflow as tf
    import tf2onnx
    model = tf.keras.applications.MobileNetV2(
        weights=None, input_shape=(size, size, 3),
        classifier_activation="softmax" if as_is else None)
    if not as_is:
        for layer in model.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.momentum = 0.0
        model(np.random.default_rng(7).standard_normal((8, size, size, 3), np.float32),
              training=True)
    spec = (tf.TensorSpec((None, size, size, 3), tf.float32, name="input"),)
    kwargs = {} if optimize else {"optimizers": {}}
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=path,
                               **kwargs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--out", default="/tmp/tf2onnx")
    p.add_argument("--no-optimize", action="store_true",
                   help="tf2onnx without its graph optimizers (a transpose around every conv)")
    p.add_argument("--as-is", action="store_true",
                   help="the untrained model as Keras makes it (a constant softmax)")
    p.add_argument("--frameworks", default="",
                   help="also run the CLI's equivalence check in these frameworks")
    args = p.parse_args()
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        print("tf2onnx is not installed: pip install --no-deps tf2onnx", file=sys.stderr)
        return 2
    import onnx
    import onnxruntime as ort
    import ir_numpy
    from suite.models import onnx_import

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"keras_mobilenet_v2{'_raw' if args.no_optimize else ''}.onnx")
    start = time.perf_counter()
    export(args.size, path, not args.no_optimize, args.as_is)
    print(f"exported {path} in {time.perf_counter() - start:.1f} s")
    proto = onnx.load(path)
    print("file ops:", dict(collections.Counter(n.op_type for n in proto.graph.node)))
    found = onnx_import.import_onnx(path)
    print(f"imported: input {found.input_layout}, {found.model.param_count():,} parameters, "
          "ops", dict(collections.Counter(n.op for n in found.model.nodes)))
    x = np.random.default_rng(1).standard_normal((2, 3, args.size, args.size), np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = x.transpose(0, 2, 3, 1).copy() if found.input_layout == "NHWC" else x
    expected = session.run(None, {found.input_name: feed})[0]
    got = ir_numpy.forward(found.model, found.weights, {"data": x})
    spread = float(np.abs(expected[0] - expected[1]).max() / np.abs(expected).max())
    print(f"the file's outputs: relative spread {spread:.2e} between two images")
    print(f"numpy reading of the description vs ORT on the file: max relative error "
          f"{ir_numpy.rel_err(got, expected):.2e}")
    if args.frameworks:
        cmd = [sys.executable, "-m", "suite", "infer", "--model-file", path, "--frameworks",
               args.frameworks, "--batches", "1", "--threads", "1",
               "--processes", "1", "--out", os.path.join(args.out, "run")]
        print("$", " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
