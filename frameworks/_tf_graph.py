"""The TensorFlow network built from a `suite.models.ir.Model`: variables plus a forward function.

Images are NHWC inside (TensorFlow's CPU convolutions support only NHWC); every other
tensor keeps the IR's layout with a batch axis in front. Each IR op is one small function
of raw `tf` ops, so eager, tf.function and XLA all run the same code. Imported only by
`frameworks.tensorflow_keras`, after TensorFlow itself.

Emulated where TF has no exact equivalent: pools pad explicitly (-inf for max, zeros for
avg) to the IR's ceil-mode output size, then pool 'VALID'; average pools whose windows
have unequal divisors are rescaled by a constant map of PyTorch's divisors; LRN with an
even size (asymmetric window) is a sum of shifted squares; grouped convolutions in CPU
training outside XLA are split per group (TF's CPU kernels have no grouped-conv gradient).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from suite.models.ir import Model, Node, pool_out

# IR layout -> native layout for parameters that differ (the reverse is applied on read-back).
_TO_NATIVE: dict[tuple[str, str], tuple[int, ...]] = {
    ("conv", "weight"): (2, 3, 1, 0),          # OIHW -> HWIO
    ("dense", "weight"): (1, 0),               # [out, in] -> [in, out]
    **{("attention", f"{p}_weight"): (1, 0) for p in ("q", "k", "v", "out")},
}


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


class TFNet:
    """Variables by stable name and a forward pass over the IR nodes."""

    def __init__(self, model: Model, weights: dict[str, np.ndarray], dropout: bool,
                 split_grouped_training: bool = False,
                 split_grouped_inference: bool = False) -> None:
        self.model = model
        self.dropout = dropout
        # Grouped convolutions run as one convolution per group where TF cannot run them
        # whole: in training on a CPU (no gradient kernel there; XLA's and GPU's have one)
        # and, in inference, under a tf.function on a CPU whose TF lacks oneDNN, those with
        # a bias (grappler swaps Conv2D + BiasAdd for a fused kernel that rejects groups
        # there; without a bias the grouped Conv2D stays as it was).
        self.split_grouped_training = split_grouped_training
        self.split_grouped_inference = split_grouped_inference
        self.variables: dict[str, tf.Variable] = {}
        self._perm: dict[str, tuple[int, ...]] = {}
        trainable = model.trainable_param_shapes()
        ops = {n.name: n.op for n in model.nodes}
        for name, shape in model.param_shapes().items():
            if name not in weights:
                raise ValueError(f"weights lack parameter {name!r}")
            value = np.asarray(weights[name], dtype=np.float32)
            if value.shape != tuple(shape):
                raise ValueError(f"parameter {name!r} has shape {value.shape}, expected {shape}")
            node, pname = name.rsplit(".", 1)
            perm = _TO_NATIVE.get((ops[node], pname))
            if perm is not None:
                self._perm[name] = perm
                value = np.ascontiguousarray(value.transpose(perm))
            self.variables[name] = tf.Variable(value, trainable=name in trainable,
                                               name=name.replace(".", "/"))
        self.trainable = [self.variables[n] for n in trainable]
        self.trainable_names = list(trainable)
        self._extra = {n.name: _precompute(n, model) for n in model.nodes}
        self._node_params: dict[str, dict[str, tf.Variable]] = {n.name: {} for n in model.nodes}
        for name, var in self.variables.items():
            node, pname = name.rsplit(".", 1)
            self._node_params[node][pname] = var

    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable parameters in the IR layout."""
        out = {}
        for name, var in zip(self.trainable_names, self.trainable):
            value = var.numpy()
            if name in self._perm:
                value = np.ascontiguousarray(value.transpose(_inverse(self._perm[name])))
            out[name] = value
        return out

    def forward(self, inputs: list[tf.Tensor], training: bool) -> tf.Tensor:
        """The model output for a batch; `inputs` in model-input order, images NHWC."""
        env: dict[str, tf.Tensor] = {spec.name: x for spec, x in zip(self.model.inputs, inputs)}
        for node in self.model.nodes:
            xs = [env[i] for i in node.inputs]
            env[node.name] = _OPS[node.op](self, node, xs, self._node_params[node.name], training)
        return env[self.model.output]


# ------------------------------------------------------------------------ pooling geometry

def _pool_geometry(n: int, k: int, s: int, p: int, ceil_mode: bool, include_pad: bool
                   ) -> tuple[int, int, np.ndarray]:
    """Pads before/after for a 'VALID' pool with the IR's output length, and each window's divisor.

    Divisors follow PyTorch: a window is clipped to [-p, n + p) when padding counts and
    to [0, n) when it does not; the extra ceil-mode padding never counts.
    """
    out = pool_out(n, k, s, p, ceil_mode)
    after = max(p, (out - 1) * s + k - n - p)
    divisors = np.empty(out, dtype=np.float64)
    for i in range(out):
        start = i * s - p
        end = min(start + k, n + p)
        if not include_pad:
            start, end = max(start, 0), min(end, n)
        divisors[i] = end - start
    return p, after, divisors


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """The (before, after) padding TensorFlow's "SAME" applies along one axis."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _conv_padding(node: Node, model: Model) -> tuple[Any, list | None]:
    """(padding argument of conv2d, pads for tf.pad or None) for the IR's symmetric padding.

    "SAME" where it pads exactly as the IR does (stride 1 with odd kernels, mostly); else the
    input is zero-padded by tf.pad and convolved 'VALID', as Keras' ZeroPadding2D does. TF's
    EXPLICIT padding is avoided: its CPU gradients miss oneDNN (2.4x slower for a 3x3 conv's
    forward + backward, measured with tf.function, 2 threads).
    """
    _, h, w = model.shape_of(node.inputs[0])
    (kh, kw), (sh, sw), (ph, pw) = node.attr("kernel"), node.attr("stride"), node.attr("padding")
    if ph == pw == 0:
        return "VALID", None
    if _same_pads(h, kh, sh) == (ph, ph) and _same_pads(w, kw, sw) == (pw, pw):
        return "SAME", None
    return "VALID", [[0, 0], [ph, ph], [pw, pw], [0, 0]]


def _precompute(node: Node, model: Model) -> Any:
    """Shape-only constants a node needs (conv padding; pool paddings and divisors)."""
    if node.op == "conv":
        return _conv_padding(node, model)
    if node.op not in ("maxpool", "avgpool"):
        return None
    _, h, w = model.shape_of(node.inputs[0])
    (kh, kw), (sh, sw), (ph, pw) = node.attr("kernel"), node.attr("stride"), node.attr("padding")
    ceil, include = node.attr("ceil_mode"), bool(node.attr("count_include_pad", True))
    top, bottom, dh = _pool_geometry(h, kh, sh, ph, ceil, include)
    left, right, dw = _pool_geometry(w, kw, sw, pw, ceil, include)
    scale = (kh * kw) / np.outer(dh, dw)
    uniform = bool(np.all(scale == 1.0))
    pads = [[0, 0], [top, bottom], [left, right], [0, 0]]
    return pads, None if uniform else scale.astype(np.float32)[:, :, None]


# ------------------------------------------------------------------------------ the ops

OpFn = Callable[[TFNet, Node, list, dict, bool], Any]


def _channel_axis(x: tf.Tensor) -> int:
    return 3 if x.shape.rank == 4 else 1


def _conv(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    sh, sw = node.attr("stride")
    padding, pads = net._extra[node.name]
    x = xs[0] if pads is None else tf.pad(xs[0], pads)
    groups = node.attr("groups")
    if groups > 1 and groups == int(x.shape[3]) and sh == sw:
        # Depthwise (MobileNet's): TF's own kernel, which has CPU gradients too. The HWIO
        # weight (kh, kw, 1, C * m) is its (kh, kw, C, m) filter: out channel c * m + j reads c.
        kh, kw, _, out = p["weight"].shape
        w = tf.reshape(p["weight"], [kh, kw, groups, out // groups])
        y = tf.nn.depthwise_conv2d(x, w, strides=[1, sh, sw, 1], padding=padding)
    elif groups > 1 and (net.split_grouped_training if training
                         else net.split_grouped_inference and "bias" in p):
        parts = zip(tf.split(x, groups, axis=3), tf.split(p["weight"], groups, axis=3))
        y = tf.concat([tf.nn.conv2d(x, w, strides=[1, sh, sw, 1], padding=padding)
                       for x, w in parts], axis=3)
    else:
        y = tf.nn.conv2d(x, p["weight"], strides=[1, sh, sw, 1], padding=padding)
    return tf.nn.bias_add(y, p["bias"]) if "bias" in p else y


def _batchnorm(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    x, eps = xs[0], node.attr("eps")
    if not training:
        return tf.nn.batch_normalization(x, p["mean"], p["var"], p["beta"], p["gamma"], eps)
    axes = [0, 1, 2] if x.shape.rank == 4 else [0]
    mean, var = tf.nn.moments(x, axes)
    # Running statistics as PyTorch keeps them: momentum 0.1, unbiased variance.
    count = math.prod(int(x.shape[a]) for a in axes)
    unbiased = var * (count / max(count - 1, 1))
    p["mean"].assign(0.9 * p["mean"] + 0.1 * tf.stop_gradient(mean))
    p["var"].assign(0.9 * p["var"] + 0.1 * tf.stop_gradient(unbiased))
    return tf.nn.batch_normalization(x, mean, var, p["beta"], p["gamma"], eps)


def _maxpool(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    pads, _ = net._extra[node.name]
    x = xs[0]
    if any(a or b for a, b in pads):
        x = tf.pad(x, pads, constant_values=float("-inf"))  # padding never wins
    return tf.nn.max_pool2d(x, node.attr("kernel"), node.attr("stride"), "VALID")


def _avgpool(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    pads, scale = net._extra[node.name]
    x = xs[0]
    if any(a or b for a, b in pads):
        x = tf.pad(x, pads)
    y = tf.nn.avg_pool2d(x, node.attr("kernel"), node.attr("stride"), "VALID")
    return y if scale is None else y * tf.constant(scale)


def _lrn(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    x = xs[0]
    size, alpha, beta, k = (node.attr(a) for a in ("size", "alpha", "beta", "k"))
    if size % 2 == 1 and x.shape.rank == 4:
        # TF sums a symmetric window of 2*radius+1 channels and does not divide alpha by it.
        return tf.nn.local_response_normalization(x, depth_radius=size // 2, bias=k,
                                                  alpha=alpha / size, beta=beta)
    # Even sizes have the IR's asymmetric window [c - size//2, c + (size-1)//2]: sum shifts.
    axis, channels = _channel_axis(x), int(x.shape[_channel_axis(x)])
    pads = [[0, 0]] * x.shape.rank
    pads[axis] = [size // 2, (size - 1) // 2]
    sq = tf.pad(tf.square(x), pads)
    total = tf.add_n([tf.gather(sq, tf.range(j, j + channels), axis=axis) for j in range(size)])
    return x / tf.pow(k + (alpha / size) * total, beta)


def _dense(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    x, w = xs[0], p["weight"]
    if x.shape.rank == 2:
        y = tf.matmul(x, w)
    else:
        y = tf.reshape(tf.matmul(tf.reshape(x, [-1, int(x.shape[-1])]), w),
                       [-1, *[int(d) for d in x.shape[1:-1]], int(w.shape[1])])
    return tf.nn.bias_add(y, p["bias"]) if "bias" in p else y


def _flatten(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    # IR flatten is channel-major (C, H, W): go back to NCHW before reshaping.
    return tf.reshape(tf.transpose(xs[0], [0, 3, 1, 2]), [-1, int(node.shape[0])])


def _softmax(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    return tf.nn.softmax(xs[0], axis=2 if xs[0].shape.rank == 4 else -1)  # IR last axis = W


def _dropout(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    if training and net.dropout and node.attr("rate", 0.0) > 0:
        return tf.nn.dropout(xs[0], rate=node.attr("rate"))
    return xs[0]


def _embeddings(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    seq = int(xs[0].shape[1])
    return tf.gather(p["word"], xs[0]) + p["position"][:seq] + p["token_type"][0]


def _layernorm(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    mean, var = tf.nn.moments(xs[0], axes=[-1], keepdims=True)
    return (xs[0] - mean) * tf.math.rsqrt(var + node.attr("eps")) * p["gamma"] + p["beta"]


def _attention(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    x = xs[0]
    seq, hidden = int(x.shape[1]), int(x.shape[2])
    heads = node.attr("heads")
    flat = tf.reshape(x, [-1, hidden])

    def project(name: str) -> tf.Tensor:
        y = tf.nn.bias_add(tf.matmul(flat, p[f"{name}_weight"]), p[f"{name}_bias"])
        return tf.transpose(tf.reshape(y, [-1, seq, heads, hidden // heads]), [0, 2, 1, 3])

    q, k, v = project("q"), project("k"), project("v")
    scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(hidden // heads))
    ctx = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
    ctx = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [-1, hidden])
    out = tf.nn.bias_add(tf.matmul(ctx, p["out_weight"]), p["out_bias"])
    return tf.reshape(out, [-1, seq, hidden])


def _clip(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    low, high = node.attr("min"), node.attr("max")
    if (low, high) == (0.0, 6.0):
        return tf.nn.relu6(xs[0])
    return tf.clip_by_value(xs[0], low, high)


def _hardsigmoid(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    alpha, beta = node.attr("alpha"), node.attr("beta")
    return tf.clip_by_value(xs[0] * alpha + beta, 0.0, 1.0)


def _pad(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    top, bottom, left, right = node.attr("pads")
    return tf.pad(xs[0], [[0, 0], [top, bottom], [left, right], [0, 0]],
                  constant_values=float(node.attr("value")))


def _channel_shuffle(net: TFNet, node: Node, xs: list, p: dict, training: bool) -> tf.Tensor:
    """NHWC: split the last axis into (groups, C / groups), swap the two, merge them."""
    c, h, w = node.shape
    groups = node.attr("groups")
    t = tf.reshape(xs[0], [-1, h, w, groups, c // groups])
    return tf.reshape(tf.transpose(t, [0, 1, 2, 4, 3]), [-1, h, w, c])


_OPS: dict[str, OpFn] = {
    "conv": _conv,
    "batchnorm": _batchnorm,
    "relu": lambda net, n, xs, p, t: tf.nn.relu(xs[0]),
    "tanh": lambda net, n, xs, p, t: tf.math.tanh(xs[0]),
    "gelu": lambda net, n, xs, p, t: tf.nn.gelu(xs[0], approximate=False),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": lambda net, n, xs, p, t: tf.reduce_mean(
        xs[0], axis=[1, 2], keepdims=bool(n.attr("keepdims"))),
    "lrn": _lrn,
    "concat": lambda net, n, xs, p, t: tf.concat(xs, axis=_channel_axis(xs[0])),
    "add": lambda net, n, xs, p, t: tf.add_n(xs),
    "dense": _dense,
    "dropout": _dropout,
    "flatten": _flatten,
    "softmax": _softmax,
    "embeddings": _embeddings,
    "layernorm": _layernorm,
    "attention": _attention,
    "first_token": lambda net, n, xs, p, t: xs[0][:, 0, :],
    "clip": _clip,
    "sigmoid": lambda net, n, xs, p, t: tf.math.sigmoid(xs[0]),
    "hardsigmoid": _hardsigmoid,
    "hardswish": lambda net, n, xs, p, t: xs[0] * (tf.nn.relu6(xs[0] + 3.0) * (1.0 / 6.0)),
    "silu": lambda net, n, xs, p, t: tf.nn.silu(xs[0]),
    "mul": lambda net, n, xs, p, t: tf.multiply(xs[0], xs[1]),   # (N, 1, 1, C) broadcasts
    "pad": _pad,
    "channel_shuffle": _channel_shuffle,
    "slice": lambda net, n, xs, p, t: xs[0][..., n.attr("begin"):n.attr("end")],
}
