"""ONNX op handlers of the importer (suite.models.onnx_translate): one function per op type.

A handler reads its inputs through the translator (constants, IR tensors, pending forms),
emits IR nodes and returns the value of each output. What it cannot express raises
Unsupported with a label naming the op and, for a partly supported op, the form refused
("Conv (dilated)"), which the importer's one-line error counts.
"""
from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from suite.models.ir import pool_out

if TYPE_CHECKING:
    from suite.models.onnx_translate import Translator

SIXTH = 1.0 / 6.0


class Unsupported(Exception):
    """An op (or a form of it) the description cannot express."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def opset_attr(node: Any, name: str, default: Any = None) -> Any:
    """The attribute `name` of an ONNX node (bytes decoded), or `default`."""
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


# ------------------------------------------------------------------ pending forms

@dataclass(frozen=True, eq=False)
class Pooled:
    """GlobalAveragePool of IR tensor `src`, (C, 1, 1), not yet emitted."""
    src: str

    def shape(self, b: Any) -> tuple[int, ...]:
        return (b.shape(self.src)[0], 1, 1)


@dataclass(frozen=True, eq=False)
class Gate:
    """sigmoid / hardsigmoid of `src`, not yet emitted (x * gate(x) is SiLU / hardswish)."""
    op: str
    src: str
    alpha: float
    beta: float
    hint: str

    def shape(self, b: Any) -> tuple[int, ...]:
        return b.shape(self.src)


@dataclass(frozen=True, eq=False)
class Linear:
    """x W^T of a MatMul by a constant, waiting for an Add of its bias."""
    src: str
    weight: np.ndarray
    hint: str

    def shape(self, b: Any) -> tuple[int, ...]:
        return b.shape(self.src)[:-1] + (self.weight.shape[0],)


@dataclass(frozen=True, eq=False)
class View:
    """An image's channels viewed as (groups, C / groups) - or, swapped, (C / groups, groups)."""
    src: str
    groups: int
    swapped: bool

    def shape(self, b: Any) -> tuple[int, ...]:
        c, h, w = b.shape(self.src)
        pair = (c // self.groups, self.groups)
        return (*(pair if self.swapped else pair[::-1]), h, w)


@dataclass(frozen=True, eq=False)
class ChannelsLast:
    """An image (C, H, W) transposed to (H, W, C)."""
    src: str

    def shape(self, b: Any) -> tuple[int, ...]:
        c, h, w = b.shape(self.src)
        return (h, w, c)


# ------------------------------------------------------------------ helpers

def _pads(t: Translator, node: Any, hw: tuple[int, int], kernel: tuple[int, int],
          strides: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from `pads` or `auto_pad`."""
    auto = t.attr(node, "auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for n, k, s in zip(hw, kernel, strides):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto == "SAME_UPPER" else large)
            ends.append(large if auto == "SAME_UPPER" else small)
        return (begins[0], begins[1], ends[0], ends[1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    pads = t.attr(node, "pads", [0, 0, 0, 0])
    return tuple(int(p) for p in pads)  # type: ignore[return-value]


def _symmetric(t: Translator, node: Any, x: str, pads: tuple[int, int, int, int],
               value: float) -> tuple[str, tuple[int, int]]:
    """(input, symmetric padding): asymmetric pads become a pad node."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    x = t.emit("pad", f"{t.hint(node)}.pad", [x], pads=(top, bottom, left, right),
               value=float(value))
    return x, (0, 0)


def _image(t: Translator, name: str, label: str) -> str:
    x = t.ir(name)
    if len(t.b.shape(x)) != 3:
        raise Unsupported(f"{label} (not on an image)")
    return x


def _pair(node: Any, t: Translator, name: str, default: int) -> tuple[int, int]:
    value = t.attr(node, name, [default, default])
    if len(value) != 2:
        raise Unsupported(f"{node.op_type} (not 2-D)")
    return (int(value[0]), int(value[1]))


# ------------------------------------------------------------------ convolution, pooling

def conv(t: Translator, node: Any, ins: list[str]) -> str:
    w = t.const(ins[1], "Conv (weight computed at run time)")
    bias = t.const(ins[2], "Conv (bias computed at run time)") if len(ins) > 2 and ins[2] \
        else None
    if w.ndim != 4:
        raise Unsupported("Conv (not 2-D)")
    if _pair(node, t, "dilations", 1) != (1, 1):
        raise Unsupported("Conv (dilated)")
    x = _image(t, ins[0], "Conv")
    kernel, strides = (int(w.shape[2]), int(w.shape[3])), _pair(node, t, "strides", 1)
    pads = _pads(t, node, t.b.shape(x)[1:], kernel, strides)
    x, padding = _symmetric(t, node, x, pads, 0.0)
    return t.emit("conv", t.hint(node, ins[1]), [x], {"weight": w, "bias": bias},
                  out_channels=int(w.shape[0]), kernel=kernel, stride=strides,
                  padding=padding, groups=int(t.attr(node, "group", 1)),
                  bias=bias is not None)


def pool(t: Translator, node: Any, ins: list[str]) -> str:
    """MaxPool / AveragePool. Extra end padding (how exporters write ceil mode) maps to the
    IR's ceil mode where both give the same windows; other asymmetric pads become a pad
    node (-inf before a max pool, zeros before an average that counts them)."""
    op = "maxpool" if node.op_type == "MaxPool" else "avgpool"
    if len([o for o in node.output if o]) > 1 or _pair(node, t, "dilations", 1) != (1, 1):
        raise Unsupported(f"{node.op_type} (indices or dilation)")
    x = _image(t, ins[0], node.op_type)
    kernel, strides = _pair(node, t, "kernel_shape", 1), _pair(node, t, "strides", 1)
    ceil, include = bool(t.attr(node, "ceil_mode", 0)), bool(t.attr(node, "count_include_pad", 0))
    hw = t.b.shape(x)[1:]
    top, left, bottom, right = pads = _pads(t, node, hw, kernel, strides)
    expected = tuple(_onnx_pool_out(n, k, s, pads[i], pads[i + 2], ceil)
                     for i, (n, k, s) in enumerate(zip(hw, kernel, strides)))
    extra = (bottom, right) != (top, left)
    as_ceil = bottom >= top and right >= left and top <= kernel[0] // 2 \
        and left <= kernel[1] // 2 and (op == "maxpool" or not include or not extra) \
        and tuple(pool_out(n, k, s, p, ceil or extra) for n, k, s, p in
                  zip(hw, kernel, strides, (top, left))) == expected
    if as_ceil:
        padding, ceil = (top, left), ceil or extra
    elif op == "avgpool" and not include and any(pads):
        raise Unsupported("AveragePool (uncounted pads beyond the IR's)")
    else:
        x = t.emit("pad", f"{t.hint(node)}.pad", [x], pads=(top, bottom, left, right),
                   value=-math.inf if op == "maxpool" else 0.0)
        padding = (0, 0)
    attrs = dict(kernel=kernel, stride=strides, padding=padding, ceil_mode=ceil)
    if op == "avgpool":
        attrs["count_include_pad"] = include
    out = t.emit(op, t.hint(node), [x], **attrs)
    if t.b.shape(out)[1:] != expected:
        raise Unsupported(f"{node.op_type} (ceil-mode windows)")
    return out


def _onnx_pool_out(n: int, k: int, s: int, begin: int, end: int, ceil: bool) -> int:
    """A pool's output length as ONNX Runtime computes it: in ceil mode a last window that
    would start in the end padding is dropped (PyTorch's rule, which ORT follows)."""
    span = n + begin + end - k
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + begin else out


def lrn(t: Translator, node: Any, ins: list[str]) -> str:
    size = int(t.attr(node, "size", 1))
    if size % 2 == 0:    # ONNX centres an even window differently from the IR (Caffe)
        raise Unsupported("LRN (even size)")
    return t.emit("lrn", t.hint(node), [_image(t, ins[0], "LRN")], size=size,
                  alpha=float(t.attr(node, "alpha", 1e-4)), beta=float(t.attr(node, "beta", 0.75)),
                  k=float(t.attr(node, "bias", 1.0)))


def global_pool(t: Translator, node: Any, ins: list[str]) -> Pooled:
    return Pooled(_image(t, ins[0], "GlobalAveragePool"))


def reduce_mean(t: Translator, node: Any, ins: list[str]) -> Any:
    axes = t.attr(node, "axes")
    if axes is None and len(ins) > 1 and ins[1]:
        axes = t.const(ins[1], "ReduceMean (axes computed at run time)").tolist()
    if sorted(int(a) % 4 for a in axes or ()) != [2, 3]:
        raise Unsupported("ReduceMean (not over H and W)")
    x = _image(t, ins[0], "ReduceMean")
    if t.attr(node, "keepdims", 1):
        return Pooled(x)
    return t.emit("global_avgpool", t.hint(node), [x], keepdims=False)


def batchnorm(t: Translator, node: Any, ins: list[str]) -> str:
    if t.attr(node, "training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise Unsupported("BatchNormalization (training mode)")
    params = {p: t.const(i, "BatchNormalization (statistics computed at run time)")
              for p, i in zip(("gamma", "beta", "mean", "var"), ins[1:5])}
    return t.emit("batchnorm", t.hint(node, ins[1]), [t.ir(ins[0])], params,
                  eps=float(t.attr(node, "epsilon", 1e-5)))


# ------------------------------------------------------------------ elementwise

def unary(op: str) -> Callable[[Translator, Any, list[str]], str]:
    def handler(t: Translator, node: Any, ins: list[str]) -> str:
        return t.emit(op, t.hint(node), [t.ir(ins[0])])
    return handler


def clip(t: Translator, node: Any, ins: list[str]) -> str:
    low = float(t.const(ins[1], "Clip (bounds computed at run time)")) \
        if len(ins) > 1 and ins[1] else -math.inf
    high = float(t.const(ins[2], "Clip (bounds computed at run time)")) \
        if len(ins) > 2 and ins[2] else math.inf
    return t.emit("clip", t.hint(node), [t.ir(ins[0])], min=low, max=high)


def gate(t: Translator, node: Any, ins: list[str]) -> Gate:
    if node.op_type == "Sigmoid":
        return Gate("sigmoid", t.ir(ins[0]), 0.0, 0.0, t.hint(node))
    return Gate("hardsigmoid", t.ir(ins[0]), float(t.attr(node, "alpha", 0.2)),
                float(t.attr(node, "beta", 0.5)), t.hint(node))


def fold_affine(t: Translator, node: Any, ins: list[str]) -> str | None:
    """`conv * c` or `conv + c` with a per-channel constant c ((1, C, 1, 1), (C, 1, 1) or a
    scalar) where the conv's output has no other reader: folded into the conv's weight and
    bias (a batch norm that tf2onnx folded only halfway, e.g. after a depthwise conv). None
    when the pattern does not hold."""
    consts = [i for i in ins if t.is_const(i)]
    if len(ins) != 2 or len(consts) != 1:
        return None
    x = ins[1] if consts[0] == ins[0] else ins[0]
    c = np.asarray(t.consts[consts[0]], np.float32)
    value = t.form(x)
    if not isinstance(value, str) or not _sole_reader(t, x, value):
        return None
    index = next((k for k, n in enumerate(t.b.nodes) if n.name == value), None)
    conv = t.b.nodes[index] if index is not None else None
    if conv is None or conv.op != "conv":
        return None
    channels = conv.attr("out_channels")
    if c.size != 1 and c.shape not in ((1, channels, 1, 1), (channels, 1, 1)):
        return None
    c = np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float32)
    bias = t.weights.get(f"{value}.bias")
    if node.op_type == "Mul":
        t.weights[f"{value}.weight"] = t.weights[f"{value}.weight"] * c.reshape(-1, 1, 1, 1)
        if bias is not None:
            t.weights[f"{value}.bias"] = bias * c
        return value
    t.weights[f"{value}.bias"] = c.copy() if bias is None else bias + c
    if bias is None:        # the conv gains its bias
        t.b.nodes[index] = dataclasses.replace(
            conv, attrs=tuple(sorted({**dict(conv.attrs), "bias": True}.items())))
    return value


def _sole_reader(t: Translator, x: str, value: str) -> bool:
    """Whether the node reading ONNX tensor `x` is the only reader of IR tensor `value`:
    no IR node reads it, and its ONNX names (itself and its channels-last views) form a
    chain, each read once."""
    if any(value in n.inputs for n in t.b.nodes):
        return False
    aliases = [k for k, v in t.values.items()
               if v == value or (isinstance(v, ChannelsLast) and v.src == value)]
    return x in aliases and all(t.uses[k] == 1 for k in aliases)


def mul(t: Translator, node: Any, ins: list[str]) -> str:
    if any(t.is_const(i) for i in ins):
        folded = fold_affine(t, node, ins)
        if folded is None:
            raise Unsupported("Mul (by a constant)")
        return folded
    for x, g in (ins, ins[::-1]):   # x * sigmoid(x) -> SiLU, x * hardsigmoid(x) -> hardswish
        gv = t.form(g)
        if isinstance(gv, Gate) and t.uses[g] == 1 and t.ir(x) == gv.src:
            if gv.op == "sigmoid":
                return t.emit("silu", gv.hint, [gv.src])
            if abs(gv.alpha - SIXTH) < 1e-6 and gv.beta == 0.5:
                return t.emit("hardswish", gv.hint, [gv.src])
    a, b = t.ir(ins[0]), t.ir(ins[1])
    sa, sb = t.b.shape(a), t.b.shape(b)
    if sa != sb and len(sb) == 3 and sa == (sb[0], 1, 1):
        a, b = b, a                     # the full map first, the (C, 1, 1) scale second
    elif sa != sb and not (len(sa) == 3 and sb == (sa[0], 1, 1)):
        raise Unsupported("Mul (broadcast other than (C, 1, 1))")
    return t.emit("mul", t.hint(node), [a, b])


def add(t: Translator, node: Any, ins: list[str]) -> str:
    consts = [i for i in ins if t.is_const(i)]
    if len(ins) == 2 and len(consts) == 1:     # MatMul + Add: a dense layer's bias
        x = ins[0] if consts[0] == ins[1] else ins[1]
        lin = t.form(x)
        bias = np.asarray(t.consts[consts[0]], np.float32)
        if isinstance(lin, Linear) and t.uses[x] == 1 and bias.size == lin.weight.shape[0]:
            return t.emit("dense", lin.hint, [lin.src],
                          {"weight": lin.weight, "bias": bias.reshape(-1)},
                          units=lin.weight.shape[0], bias=True)
        folded = fold_affine(t, node, ins)
        if folded is None:
            raise Unsupported(f"{node.op_type} (with a constant)")
        return folded
    if consts:
        raise Unsupported(f"{node.op_type} (with a constant)")
    xs = [t.ir(i) for i in ins]
    if len(xs) == 1:
        return xs[0]
    if any(t.b.shape(x) != t.b.shape(xs[0]) for x in xs):
        raise Unsupported(f"{node.op_type} (broadcast)")
    return t.emit("add", t.hint(node), xs)


# ------------------------------------------------------------------ dense layers

def gemm(t: Translator, node: Any, ins: list[str]) -> str:
    if t.attr(node, "transA", 0) or t.attr(node, "alpha", 1.0) != 1.0 \
            or t.attr(node, "beta", 1.0) != 1.0:
        raise Unsupported("Gemm (transA, alpha or beta)")
    w = t.const(ins[1], "Gemm (weight computed at run time)")
    w = w if t.attr(node, "transB", 0) else w.T
    bias = None
    if len(ins) > 2 and ins[2]:
        bias = np.broadcast_to(t.const(ins[2], "Gemm (bias computed at run time)"),
                               (w.shape[0],)).copy()
    x = t.ir(ins[0])
    if len(t.b.shape(x)) != 1:
        raise Unsupported("Gemm (not on vectors)")
    return t.emit("dense", t.hint(node, ins[1]), [x], {"weight": w, "bias": bias},
                  units=int(w.shape[0]), bias=bias is not None)


def matmul(t: Translator, node: Any, ins: list[str]) -> Linear:
    w = t.const(ins[1], "MatMul (of two tensors)")
    if w.ndim != 2:
        raise Unsupported("MatMul (weight not 2-D)")
    return Linear(t.ir(ins[0]), np.ascontiguousarray(w.T), t.hint(node, ins[1]))
