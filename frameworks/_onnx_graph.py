"""Builds an ONNX model (opset 17) from a `suite.models.ir.Model` (imported lazily).

The graph is what torch.onnx's exporter would write for the same network: NCHW tensors,
a dynamic batch axis, weights as initializers named by their stable names; dense layers on
vectors are Gemm (transB=1, the IR's [out, in] weight), on sequences MatMul with the weight
stored transposed plus Add; attention is MatMul/Reshape/Transpose/Softmax; GELU is the erf
form (the Gelu op needs opset 20). Pooling windows that ceil mode adds are written as
explicit end padding, so the output sizes are the IR's (PyTorch's) exactly.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from suite.models.ir import Model, Node, param_shapes, pool_out

OPSET = 17
OUTPUT = "output"


class OnnxGraph:
    """Collects ONNX nodes and initializers while walking the IR."""

    def __init__(self, model: Model, weights: dict[str, np.ndarray]) -> None:
        self.model = model
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.param_sizes: dict[str, int] = {}   # stable name -> element count
        self._constants = 0
        self.env: dict[str, str] = {spec.name: spec.name for spec in model.inputs}

    # ---- helpers
    def param(self, node: Node, pname: str, transpose: bool = False) -> str:
        """Add the initializer for parameter `pname` of `node`; returns its (stable) name."""
        key = f"{node.name}.{pname}"
        value = np.asarray(self.weights[key], dtype=np.float32)
        shape = param_shapes(node, [self.model.shape_of(i) for i in node.inputs])[pname]
        if value.shape != shape:
            raise ValueError(f"weight {key!r} has shape {value.shape}, expected {shape}")
        if transpose:
            value = np.ascontiguousarray(value.T)
        self.initializers.append(numpy_helper.from_array(value, key))
        self.param_sizes[key] = value.size
        return key

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        """A helper constant (not a parameter) as an initializer."""
        self._constants += 1
        name = f"const.{self._constants}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    # ---- the walk
    def build(self) -> onnx.ModelProto:
        for node in self.model.nodes:
            xs = [self.env[i] for i in node.inputs]
            if node.op == "dropout":
                self.env[node.name] = xs[0]
                continue
            emit = getattr(self, f"_{node.op}", None)
            if emit is None:
                raise ValueError(f"node {node.name!r}: op {node.op!r} is not supported by the "
                                 "onnx adapter")
            self.env[node.name] = emit(node, xs, node.name)
        result = self.env[self.model.output]
        if result != OUTPUT:
            self.op("Identity", [result], OUTPUT)
        return self._model_proto()

    def _model_proto(self) -> onnx.ModelProto:
        inputs = [helper.make_tensor_value_info(
            spec.name, TensorProto.INT64 if spec.dtype.startswith("int") else TensorProto.FLOAT,
            ["batch", *spec.shape]) for spec in self.model.inputs]
        out_shape = self.model.shape_of(self.model.output)
        outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", *out_shape])]
        graph = helper.make_graph(self.nodes, self.model.name, inputs, outputs,
                                  initializer=self.initializers)
        proto = helper.make_model(graph, producer_name="dlbench",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        proto.ir_version = 8  # opset 17's IR version; every onnxruntime >= 1.14 reads it
        return proto

    # ---- ops (each writes its result to `out`)
    def _conv(self, n: Node, xs: list[str], out: str) -> str:
        a = n.attributes
        ph, pw = a["padding"]
        ins = [xs[0], self.param(n, "weight")] + ([self.param(n, "bias")] if a["bias"] else [])
        return self.op("Conv", ins, out, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                       pads=[ph, pw, ph, pw], group=a["groups"])

    def _batchnorm(self, n: Node, xs: list[str], out: str) -> str:
        ins = [xs[0]] + [self.param(n, p) for p in ("gamma", "beta", "mean", "var")]
        return self.op("BatchNormalization", ins, out, epsilon=float(n.attr("eps")))

    def _relu(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Relu", xs, out)

    def _tanh(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Tanh", xs, out)

    def _gelu(self, n: Node, xs: list[str], out: str) -> str:
        """0.5 x (1 + erf(x / sqrt 2)), the pattern ORT fuses into its Gelu kernel."""
        t = self.op("Div", [xs[0], self.const(math.sqrt(2.0))], f"{out}::scaled")
        t = self.op("Erf", [t], f"{out}::erf")
        t = self.op("Add", [t, self.const(1.0)], f"{out}::plus1")
        t = self.op("Mul", [xs[0], t], f"{out}::mul")
        return self.op("Mul", [t, self.const(0.5)], out)

    def _pool_pads(self, n: Node) -> list[int]:
        """Begin/end pads reproducing the IR's output size (ceil mode -> extra end padding)."""
        c, h, w = self.model.shape_of(n.inputs[0])
        extra = []
        for size, k, s, p in zip((h, w), n.attr("kernel"), n.attr("stride"), n.attr("padding")):
            out = pool_out(size, k, s, p, n.attr("ceil_mode"))
            extra.append(max(0, (out - 1) * s + k - (size + 2 * p)))
        ph, pw = n.attr("padding")
        return [ph, pw, ph + extra[0], pw + extra[1]]

    def _maxpool(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("MaxPool", xs, out, kernel_shape=list(n.attr("kernel")),
                       strides=list(n.attr("stride")), pads=self._pool_pads(n))

    def _avgpool(self, n: Node, xs: list[str], out: str) -> str:
        pads = self._pool_pads(n)
        ph, pw = n.attr("padding")
        include = bool(n.attr("count_include_pad"))
        kw = dict(kernel_shape=list(n.attr("kernel")), strides=list(n.attr("stride")))
        if not include or pads == [ph, pw, ph, pw]:
            return self.op("AveragePool", xs, out, pads=pads, count_include_pad=int(include), **kw)
        # PyTorch's divisor counts the symmetric zero padding but not the ceil-mode overhang:
        # pad with zeros explicitly, then average without counting the remaining end pads.
        x = xs[0]
        if (ph, pw) != (0, 0):
            zeros = self.const([0, 0, ph, pw, 0, 0, ph, pw], np.int64)
            x = self.op("Pad", [x, zeros], f"{out}::padded")
        return self.op("AveragePool", [x], out, count_include_pad=0,
                       pads=[0, 0, pads[2] - ph, pads[3] - pw], **kw)

    def _global_avgpool(self, n: Node, xs: list[str], out: str) -> str:
        if n.attr("keepdims"):
            return self.op("GlobalAveragePool", xs, out)
        t = self.op("GlobalAveragePool", xs, f"{out}::nc11")
        return self.op("Flatten", [t], out, axis=1)

    def _lrn(self, n: Node, xs: list[str], out: str) -> str:
        size, alpha, beta, k = (n.attr(key) for key in ("size", "alpha", "beta", "k"))
        if size % 2 == 1:  # ONNX's window [c - (n-1)/2, c + (n-1)/2] is the IR's for odd n
            return self.op("LRN", xs, out, size=size, alpha=float(alpha), beta=float(beta),
                           bias=float(k))
        # Even sizes: ONNX centres the window differently, so sum the squares with a band conv.
        c = self.model.shape_of(n.inputs[0])[0]
        band = np.zeros((c, c, 1, 1), np.float32)
        for i in range(c):
            band[i, max(0, i - size // 2):min(c, i + (size - 1) // 2 + 1)] = 1.0
        sq = self.op("Mul", [xs[0], xs[0]], f"{out}::sq")
        t = self.op("Conv", [sq, self.const(band)], f"{out}::sum", kernel_shape=[1, 1])
        t = self.op("Mul", [t, self.const(alpha / size)], f"{out}::scaled")
        t = self.op("Add", [t, self.const(k)], f"{out}::plus_k")
        t = self.op("Pow", [t, self.const(beta)], f"{out}::denominator")
        return self.op("Div", [xs[0], t], out)

    def _concat(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Concat", xs, out, axis=1)

    def _add(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Add" if len(xs) == 2 else "Sum", xs, out)

    def _dense(self, n: Node, xs: list[str], out: str) -> str:
        if len(self.model.shape_of(n.inputs[0])) == 1:
            ins = [xs[0], self.param(n, "weight")]
            ins += [self.param(n, "bias")] if n.attr("bias") else []
            return self.op("Gemm", ins, out, transB=1)
        return self._linear(n, xs[0], "weight", "bias" if n.attr("bias") else None, out)

    def _linear(self, n: Node, x: str, weight: str, bias: str | None, out: str) -> str:
        """x W^T (+ b) on the last axis of a (N, S, H) tensor, as torch.onnx exports Linear."""
        if bias is None:
            return self.op("MatMul", [x, self.param(n, weight, transpose=True)], out)
        t = self.op("MatMul", [x, self.param(n, weight, transpose=True)], f"{out}::matmul")
        return self.op("Add", [t, self.param(n, bias)], out)

    def _flatten(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Flatten", xs, out, axis=1)

    def _softmax(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Softmax", xs, out, axis=-1)

    def _embeddings(self, n: Node, xs: list[str], out: str) -> str:
        s = self.model.shape_of(n.inputs[0])[0]
        words = self.op("Gather", [self.param(n, "word"), xs[0]], f"{out}::word")
        pos = self.op("Slice", [self.param(n, "position"), self.const([0], np.int64),
                                self.const([s], np.int64), self.const([0], np.int64)],
                      f"{out}::position")
        typ = self.op("Gather", [self.param(n, "token_type"), self.const(0, np.int64)],
                      f"{out}::token_type")
        t = self.op("Add", [words, pos], f"{out}::word_position")
        return self.op("Add", [t, typ], out)

    def _layernorm(self, n: Node, xs: list[str], out: str) -> str:
        """Over the last axis; an image's channels through an NHWC view, as torch exports
        ConvNeXt's LayerNorm2d (ONNX's axis=1 would normalise C, H and W together)."""
        image = len(self.model.shape_of(n.inputs[0])) == 3
        x = self.op("Transpose", xs, f"{out}::nhwc", perm=[0, 2, 3, 1]) if image else xs[0]
        ins = [x, self.param(n, "gamma"), self.param(n, "beta")]
        if not image:
            return self.op("LayerNormalization", ins, out, axis=-1, epsilon=float(n.attr("eps")))
        t = self.op("LayerNormalization", ins, f"{out}::normed", axis=-1,
                    epsilon=float(n.attr("eps")))
        return self.op("Transpose", [t], out, perm=[0, 3, 1, 2])

    # ---- the mobile CNNs' ops
    def _clip(self, n: Node, xs: list[str], out: str) -> str:
        bounds = [self.const(n.attr("min")), self.const(n.attr("max"))]
        return self.op("Clip", [xs[0], *bounds], out)

    def _sigmoid(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Sigmoid", xs, out)

    def _hardsigmoid(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("HardSigmoid", xs, out, alpha=float(n.attr("alpha")),
                       beta=float(n.attr("beta")))

    def _hardswish(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("HardSwish", xs, out)

    def _silu(self, n: Node, xs: list[str], out: str) -> str:
        """x * Sigmoid(x), as torch.onnx exports SiLU."""
        return self.op("Mul", [xs[0], self.op("Sigmoid", xs, f"{out}::sigmoid")], out)

    def _mul(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Mul", xs, out)

    def _pad(self, n: Node, xs: list[str], out: str) -> str:
        top, bottom, left, right = n.attr("pads")
        pads = self.const([0, 0, top, left, 0, 0, bottom, right], np.int64)
        return self.op("Pad", [xs[0], pads, self.const(float(n.attr("value")))], out,
                       mode="constant")

    def _channel_shuffle(self, n: Node, xs: list[str], out: str) -> str:
        """Reshape (N, g, C/g, H, W), Transpose, Reshape back (0 copies the batch)."""
        c, h, w = n.shape
        g = n.attr("groups")
        t = self.op("Reshape", [xs[0], self.const([0, g, c // g, h, w], np.int64)],
                    f"{out}::split")
        t = self.op("Transpose", [t], f"{out}::swapped", perm=[0, 2, 1, 3, 4])
        return self.op("Reshape", [t, self.const([0, c, h, w], np.int64)], out)

    def _slice(self, n: Node, xs: list[str], out: str) -> str:
        ints = [self.const([v], np.int64) for v in (n.attr("begin"), n.attr("end"), 1)]
        return self.op("Slice", [xs[0], *ints], out)

    def _attention(self, n: Node, xs: list[str], out: str) -> str:
        s, h = self.model.shape_of(n.inputs[0])
        heads = n.attr("heads")
        d = h // heads
        split = self.const([0, 0, heads, d], np.int64)   # (N, S, H) -> (N, S, heads, d)
        proj = {}
        for p, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            t = self._linear(n, xs[0], f"{p}_weight", f"{p}_bias", f"{out}::{p}")
            t = self.op("Reshape", [t, split], f"{out}::{p}_heads")
            proj[p] = self.op("Transpose", [t], f"{out}::{p}_t", perm=perm)
        scores = self.op("MatMul", [proj["q"], proj["k"]], f"{out}::scores")
        scores = self.op("Div", [scores, self.const(math.sqrt(d))], f"{out}::scaled")
        probs = self.op("Softmax", [scores], f"{out}::probs", axis=-1)
        ctx = self.op("MatMul", [probs, proj["v"]], f"{out}::context")
        ctx = self.op("Transpose", [ctx], f"{out}::context_t", perm=[0, 2, 1, 3])
        ctx = self.op("Reshape", [ctx, self.const([0, 0, h], np.int64)], f"{out}::merged")
        return self._linear(n, ctx, "out_weight", "out_bias", out)

    def _first_token(self, n: Node, xs: list[str], out: str) -> str:
        return self.op("Gather", [xs[0], self.const(0, np.int64)], out, axis=1)


def build_onnx(model: Model, weights: dict[str, np.ndarray]) -> tuple[onnx.ModelProto, int]:
    """The ONNX model and its parameter count (BN running statistics excluded)."""
    g = OnnxGraph(model, weights)
    proto = g.build()
    trainable = model.trainable_param_shapes()
    return proto, sum(size for name, size in g.param_sizes.items() if name in trainable)


def checked_bytes(proto: onnx.ModelProto) -> bytes:
    """The serialized model, after onnx.checker accepted it (one serialization for both)."""
    data = proto.SerializeToString()
    onnx.checker.check_model(data)
    return data
