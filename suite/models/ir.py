"""Framework-neutral network description: a validated graph of named nodes.

Every adapter builds its native network from a `Model`, so all frameworks run the
same architecture. Shapes are per item (no batch axis) and channel-first:
images are (C, H, W), vectors (F,), token sequences (S,) and hidden states (S, H).

Operation semantics (adapters must implement exactly these):

- ``conv``: attrs out_channels, kernel (kh, kw), stride (sh, sw), padding (ph, pw)
  (symmetric zero padding), groups, bias. Params: weight (O, I/groups, kh, kw) [OIHW],
  bias (O,) when bias is true.
- ``batchnorm``: attrs eps. Params: gamma, beta, mean, var, each (C,). Inference uses
  the running mean/var; training uses batch statistics (biased variance).
- ``relu``, ``tanh``, ``gelu`` (exact, erf form): elementwise.
- ``maxpool``: attrs kernel, stride, padding, ceil_mode. Padding never wins (-inf).
  ``ceil_mode`` is Caffe's "full" convention: out = ceil((n + 2p - k) / s) + 1, with the
  last window required to start inside the (left-padded) input, as in PyTorch.
- ``avgpool``: same attrs plus count_include_pad (divisor counts padded zeros or not).
- ``global_avgpool``: attrs keepdims (default false): the mean over H and W,
  (C, H, W) -> (C,), or (C, 1, 1) with keepdims (a squeeze-excitation's squeeze).
- ``lrn``: attrs size, alpha, beta, k; across channels, Caffe/PyTorch form:
  b_c = a_c / (k + alpha / size * sum_{c' in window(c)} a_c'^2) ** beta,
  window = [c - size // 2, c + (size - 1) // 2].
- ``concat``: along the first (channel) axis; other dims must match.
- ``add``: elementwise sum of two or more same-shape inputs.
- ``dense``: attrs units, bias; on the last axis. Params: weight (units, in) [out, in],
  bias (units,).
- ``dropout``: attrs rate; identity at inference.
- ``flatten``: (C, H, W) -> (C*H*W,) in C, H, W order (channel-major, as NCHW reshape).
- ``softmax``: over the last axis.
- ``embeddings``: BERT input embeddings; input token ids (S,) int64. attrs vocab_size,
  hidden, max_positions, type_vocab_size. Params: word (V, H), position (P, H),
  token_type (T, H). Output (S, H) = word[ids] + position[0:S] + token_type[0].
- ``layernorm``: attrs eps; over the feature axis with biased variance,
  y = (x - mean) / sqrt(var + eps) * gamma + beta: the last axis of (F,) and (S, H)
  inputs, the channel axis of (C, H, W) images at each position (ConvNeXt's LayerNorm2d).
  Params: gamma, beta (H,) or (C,).
- ``attention``: multi-head self-attention, attrs heads; input (S, H), no mask.
  Params: q_weight, k_weight, v_weight, out_weight (H, H) [out, in] and q_bias, k_bias,
  v_bias, out_bias (H,). out = Wo · concat_h(softmax(Q_h K_h^T / sqrt(H/heads)) V_h) + bo.
- ``first_token``: (S, H) -> (H,), the hidden state of position 0 (BERT pooler input).

Ops of the mobile and dense CNNs (MobileNet, EfficientNet, ShuffleNet, DenseNet):

- ``clip``: attrs min, max (floats, either may be -inf/inf): y = min(max(x, min), max);
  ReLU6 is clip(0, 6).
- ``sigmoid``: y = 1 / (1 + exp(-x)).
- ``hardsigmoid``: attrs alpha, beta: y = max(0, min(1, alpha * x + beta)). PyTorch's and
  Keras's hard sigmoid is alpha = 1/6, beta = 1/2 (ONNX's defaults are 0.2, 0.5).
- ``hardswish``: y = x * max(0, min(1, x / 6 + 1/2)) (MobileNetV3; ONNX HardSwish).
- ``silu``: y = x * sigmoid(x) (swish-1; EfficientNet).
- ``mul``: the product of two inputs; the second has the first's shape or, for a
  (C, H, W) first input, shape (C, 1, 1), broadcast over H and W (squeeze-excitation's
  scale). The output has the first input's shape.
- ``pad``: attrs pads (top, bottom, left, right), value: (C, H, W) ->
  (C, top + H + bottom, left + W + right), new positions set to `value` (a constant,
  e.g. 0, or -inf in front of a max pool).
- ``channel_shuffle``: attrs groups: (C, H, W) -> (C, H, W) with the channels viewed as
  (groups, C / groups), transposed and flattened: out[k * groups + g] = in[g * C/groups + k]
  (ShuffleNet's reshape, transpose, reshape).
- ``slice``: attrs begin, end: the channels [begin, end) of a (C, H, W) or (F,) input
  (ShuffleNet's channel split).

A parameter's stable name is ``"<node name>.<param name>"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

Shape = tuple[int, ...]

OPS = (
    "conv", "batchnorm", "relu", "tanh", "gelu", "maxpool", "avgpool", "global_avgpool",
    "lrn", "concat", "add", "dense", "dropout", "flatten", "softmax",
    "embeddings", "layernorm", "attention", "first_token",
    "clip", "sigmoid", "hardsigmoid", "hardswish", "silu", "mul", "pad", "channel_shuffle",
    "slice",
)


class GraphError(ValueError):
    """A description that does not form a valid network (names the node)."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input: name, per-item shape, dtype and, for integer ids, the exclusive upper bound."""

    name: str
    shape: Shape
    dtype: str = "float32"
    high: int | None = None


@dataclass(frozen=True)
class Node:
    """One operation: its inputs (node or model-input names), attributes and output shape."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...]
    shape: Shape

    def attr(self, key: str, default: Any = None) -> Any:
        """The attribute `key` (or `default`)."""
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.attrs)


@dataclass(frozen=True)
class Model:
    """A complete network: inputs, nodes in topological order, the output node and metadata."""

    name: str
    title: str
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[Node, ...]
    output: str
    num_classes: int | None = None
    reference_top5: float | None = None
    notes: str = ""

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def shape_of(self, name: str) -> Shape:
        for spec in self.inputs:
            if spec.name == name:
                return spec.shape
        return self.node(name).shape

    def param_shapes(self) -> dict[str, Shape]:
        """Every parameter's stable name and shape, in node order."""
        shapes: dict[str, Shape] = {}
        for n in self.nodes:
            in_shapes = [self.shape_of(i) for i in n.inputs]
            for pname, pshape in param_shapes(n, in_shapes).items():
                shapes[f"{n.name}.{pname}"] = pshape
        return shapes

    def trainable_param_shapes(self) -> dict[str, Shape]:
        """Parameters updated by SGD (batch-norm running statistics excluded)."""
        return {k: v for k, v in self.param_shapes().items()
                if not (k.endswith(".mean") or k.endswith(".var"))}

    def param_count(self) -> int:
        """Number of parameters as frameworks and papers count them (BN running stats excluded)."""
        return sum(math.prod(s) for s in self.trainable_param_shapes().values())

    @property
    def is_classifier(self) -> bool:
        return self.num_classes is not None


# ---------------------------------------------------------------------------- shapes

def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def pool_out(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """Output length of a pooling window along one axis (PyTorch's rule, incl. ceil mode)."""
    span = n + 2 * p - k
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= n + p:  # last window must start inside the input or left padding
            out -= 1
        return out
    return span // s + 1


def conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def feature_size(shape: Shape) -> int:
    """The axis a layer norm normalises: channels of (C, H, W), else the last axis."""
    return shape[0] if len(shape) == 3 else shape[-1]


def param_shapes(node: Node, in_shapes: list[Shape]) -> dict[str, Shape]:
    """Parameter shapes of one node given its input shapes."""
    a = node.attributes
    if node.op == "conv":
        kh, kw = a["kernel"]
        shapes = {"weight": (a["out_channels"], in_shapes[0][0] // a["groups"], kh, kw)}
        if a["bias"]:
            shapes["bias"] = (a["out_channels"],)
        return shapes
    if node.op == "batchnorm":
        c = (in_shapes[0][0],)
        return {"gamma": c, "beta": c, "mean": c, "var": c}
    if node.op == "dense":
        shapes = {"weight": (a["units"], in_shapes[0][-1])}
        if a["bias"]:
            shapes["bias"] = (a["units"],)
        return shapes
    if node.op == "embeddings":
        h = a["hidden"]
        return {"word": (a["vocab_size"], h), "position": (a["max_positions"], h),
                "token_type": (a["type_vocab_size"], h)}
    if node.op == "layernorm":
        c = (feature_size(in_shapes[0]),)
        return {"gamma": c, "beta": c}
    if node.op == "attention":
        h = in_shapes[0][-1]
        shapes: dict[str, Shape] = {}
        for p in ("q", "k", "v", "out"):
            shapes[f"{p}_weight"] = (h, h)
            shapes[f"{p}_bias"] = (h,)
        return shapes
    return {}


def infer_shape(op: str, name: str, in_shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    """Output shape of `op`; raises GraphError naming the node when inputs do not fit."""

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise GraphError(f"node {name!r} ({op}): {msg}; input shapes {in_shapes}")

    if op not in OPS:
        raise GraphError(f"node {name!r}: unknown op {op!r}; known ops: {', '.join(OPS)}")
    need(len(in_shapes) >= 1, "needs at least one input")
    x = in_shapes[0]
    if op in ("conv", "maxpool", "avgpool", "lrn", "global_avgpool", "flatten", "pad",
              "channel_shuffle"):
        need(len(x) == 3, "expects a (C, H, W) input")
    if op == "conv":
        c, h, w = x
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        ph, pw = a["padding"]
        need(c % a["groups"] == 0 and a["out_channels"] % a["groups"] == 0,
             f"channels {c}->{a['out_channels']} not divisible by groups {a['groups']}")
        oh, ow = conv_out(h, kh, sh, ph), conv_out(w, kw, sw, pw)
        need(oh >= 1 and ow >= 1, "kernel larger than padded input")
        return (a["out_channels"], oh, ow)
    if op in ("maxpool", "avgpool"):
        c, h, w = x
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        ph, pw = a["padding"]
        need(ph <= kh // 2 and pw <= kw // 2, "padding must be at most half the kernel")
        oh = pool_out(h, kh, sh, ph, a["ceil_mode"])
        ow = pool_out(w, kw, sw, pw, a["ceil_mode"])
        need(oh >= 1 and ow >= 1, "window larger than padded input")
        return (c, oh, ow)
    if op == "global_avgpool":
        return (x[0], 1, 1) if a.get("keepdims", False) else (x[0],)
    if op in ("mul", "pad", "channel_shuffle", "slice", "clip"):
        return _infer_mobile(op, x, in_shapes, a, need)
    if op == "flatten":
        return (math.prod(x),)
    if op == "concat":
        need(all(len(s) == len(x) and s[1:] == x[1:] for s in in_shapes),
             "inputs differ outside the channel axis")
        return (sum(s[0] for s in in_shapes),) + x[1:]
    if op == "add":
        need(len(in_shapes) >= 2 and all(s == x for s in in_shapes), "inputs must have equal shapes")
        return x
    if op == "dense":
        return x[:-1] + (a["units"],)
    if op == "embeddings":
        need(len(x) == 1, "expects token ids (S,)")
        need(x[0] <= a["max_positions"], "sequence longer than max_positions")
        return (x[0], a["hidden"])
    if op == "attention":
        need(len(x) == 2 and x[1] % a["heads"] == 0, "expects (S, H) with H divisible by heads")
        return x
    if op == "first_token":
        need(len(x) == 2, "expects (S, H)")
        return (x[1],)
    if op == "batchnorm":
        need(len(x) in (1, 3), "expects (C,) or (C, H, W)")
    return x  # elementwise / normalisation / dropout / softmax / lrn keep the shape


def _infer_mobile(op: str, x: Shape, in_shapes: list[Shape], a: Mapping[str, Any],
                  need: Any) -> Shape:
    """Output shapes of mul, pad, channel_shuffle, slice and clip."""
    if op == "mul":
        need(len(in_shapes) == 2, "takes exactly two inputs")
        y = in_shapes[1]
        need(y == x or (len(x) == 3 and y == (x[0], 1, 1)),
             "the second input must have the first's shape or be (C, 1, 1)")
        return x
    if op == "pad":
        top, bottom, left, right = a["pads"]
        need(min(a["pads"]) >= 0, "pads must be non-negative")
        return (x[0], x[1] + top + bottom, x[2] + left + right)
    if op == "channel_shuffle":
        need(a["groups"] >= 1 and x[0] % a["groups"] == 0,
             f"channels {x[0]} not divisible by groups {a['groups']}")
        return x
    if op == "slice":
        need(len(x) in (1, 3), "expects (C, H, W) or (F,)")
        need(0 <= a["begin"] < a["end"] <= x[0], f"channels [{a['begin']}, {a['end']}) "
             f"outside [0, {x[0]})")
        return (a["end"] - a["begin"],) + x[1:]
    need(a["min"] <= a["max"], "min must not exceed max")  # clip
    return x


# --------------------------------------------------------------------------- builder

@dataclass
class GraphBuilder:
    """Builds a Model node by node, inferring and validating shapes as it goes.

    Each method returns the new node's name, to be passed as the next node's input.
    """

    name: str
    title: str
    inputs: list[TensorSpec] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    _shapes: dict[str, Shape] = field(default_factory=dict)

    def input(self, name: str, shape: Shape, dtype: str = "float32", high: int | None = None) -> str:
        self.inputs.append(TensorSpec(name, tuple(shape), dtype, high))
        self._shapes[name] = tuple(shape)
        return name

    def add(self, op: str, name: str, inputs: list[str] | tuple[str, ...], **attrs: Any) -> str:
        """Append a node; `attrs` must be complete (the helpers below fill defaults)."""
        if name in self._shapes:
            raise GraphError(f"node {name!r}: duplicate name")
        for i in inputs:
            if i not in self._shapes:
                raise GraphError(f"node {name!r}: unknown input {i!r}")
        in_shapes = [self._shapes[i] for i in inputs]
        shape = infer_shape(op, name, in_shapes, attrs)
        self.nodes.append(Node(name, op, tuple(inputs), tuple(sorted(attrs.items())), shape))
        self._shapes[name] = shape
        return name

    def shape(self, name: str) -> Shape:
        return self._shapes[name]

    # Convenience constructors with defaults.
    def conv(self, name: str, x: str, out_channels: int, kernel, stride=1, padding=0,
             groups: int = 1, bias: bool = True) -> str:
        return self.add("conv", name, [x], out_channels=out_channels, kernel=_pair(kernel),
                        stride=_pair(stride), padding=_pair(padding), groups=groups, bias=bias)

    def batchnorm(self, name: str, x: str, eps: float = 1e-5) -> str:
        return self.add("batchnorm", name, [x], eps=eps)

    def maxpool(self, name: str, x: str, kernel, stride, padding=0, ceil_mode: bool = False) -> str:
        return self.add("maxpool", name, [x], kernel=_pair(kernel), stride=_pair(stride),
                        padding=_pair(padding), ceil_mode=ceil_mode)

    def avgpool(self, name: str, x: str, kernel, stride, padding=0, ceil_mode: bool = False,
                count_include_pad: bool = False) -> str:
        return self.add("avgpool", name, [x], kernel=_pair(kernel), stride=_pair(stride),
                        padding=_pair(padding), ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad)

    def dense(self, name: str, x: str, units: int, bias: bool = True) -> str:
        return self.add("dense", name, [x], units=units, bias=bias)

    def unary(self, op: str, name: str, x: str, **attrs: Any) -> str:
        return self.add(op, name, [x], **attrs)

    def clip(self, name: str, x: str, low: float = 0.0, high: float = 6.0) -> str:
        """clip(x, low, high); the default is ReLU6."""
        return self.add("clip", name, [x], min=float(low), max=float(high))

    def hardsigmoid(self, name: str, x: str, alpha: float = 1.0 / 6.0, beta: float = 0.5) -> str:
        return self.add("hardsigmoid", name, [x], alpha=float(alpha), beta=float(beta))

    def global_avgpool(self, name: str, x: str, keepdims: bool = False) -> str:
        return self.add("global_avgpool", name, [x], keepdims=keepdims)

    def build(self, output: str, num_classes: int | None = None,
              reference_top5: float | None = None, notes: str = "") -> Model:
        return Model(self.name, self.title, tuple(self.inputs), tuple(self.nodes), output,
                     num_classes, reference_top5, notes)


def walk(model: Model) -> Iterator[tuple[Node, list[Shape]]]:
    """Each node with its input shapes, in topological order."""
    for n in model.nodes:
        yield n, [model.shape_of(i) for i in n.inputs]
