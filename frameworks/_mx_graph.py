"""The Gluon network built from a `suite.models.ir.Model` (used by frameworks.mxnet_gluon).

One HybridBlock walks the IR nodes in order; parametrised nodes are native Gluon layers
(Conv2D, BatchNorm, Dense, LayerNorm) or two small blocks (BERT embeddings, attention), the
rest are `F.*` operators, so the same code runs imperatively and hybridized. MXNet is NCHW,
like the IR. The `mx` module is passed in: mxnet is imported only by the adapter, after
NumPy's removed aliases are restored.

Where MXNet's operators differ from the IR: ceil-mode pooling uses MXNet's "full"
convention and drops the trailing window that PyTorch's rule excludes (and pads explicitly
when the window exceeds the padded input, which MXNet rejects); LRN with an even size
(asymmetric window) is composed from an average pool over channels, and so is LRN in
training: MXNet 1.9's oneDNN LRN backward is off by ~0.3% inside a network (measured on
CaffeNet against PyTorch; exact with MXNET_MKLDNN_ENABLED=0); the composed form's gradient
is exact.
"""
from __future__ import annotations

import math
from typing import Any

from suite.models.ir import Model, Node, feature_size


def build_net(mx: Any, model: Model, dropout: bool, training: bool
              ) -> tuple[Any, dict[str, Any]]:
    """The Gluon block for `model` and its parameters by stable name (IR order)."""
    embeddings, attention, net_class = _block_classes(mx)

    def layer(node: Node) -> Any:
        """The Gluon block of a parametrised node (None: an `F.*` op in the forward)."""
        nn, a, in_shape = mx.gluon.nn, node.attributes, model.shape_of(node.inputs[0])
        if node.op == "conv":
            return nn.Conv2D(a["out_channels"], a["kernel"], a["stride"], a["padding"],
                             groups=a["groups"], use_bias=a["bias"], in_channels=in_shape[0])
        if node.op == "batchnorm":
            return nn.BatchNorm(axis=1, momentum=0.9, epsilon=a["eps"], in_channels=in_shape[0])
        if node.op == "dense":
            return nn.Dense(a["units"], use_bias=a["bias"], flatten=False, in_units=in_shape[-1])
        if node.op == "layernorm":   # images: over the channel axis (1 in NCHW)
            return nn.LayerNorm(axis=1 if len(in_shape) == 3 else -1, epsilon=a["eps"],
                                in_channels=feature_size(in_shape))
        if node.op == "dropout" and dropout and a.get("rate", 0.0) > 0:
            return nn.Dropout(a["rate"])
        if node.op == "embeddings":
            return embeddings(in_shape[0], **a)
        if node.op == "attention":
            return attention(in_shape[-1], a["heads"])
        return None

    net = net_class(model, layer, training, prefix="dlbench_")
    params: dict[str, Any] = {}
    native = {"running_mean": "mean", "running_var": "var"}
    for node_name, block in net.layers.items():
        for full, param in block.collect_params().items():
            short = full[len(block.prefix):]
            params[f"{node_name}.{native.get(short, short)}"] = param
    expected = model.param_shapes()
    if set(params) != set(expected):
        mismatch = sorted(set(params) ^ set(expected))
        raise RuntimeError(f"mxnet parameters {mismatch} do not match the IR")
    return net, {k: params[k] for k in expected}


def _block_classes(mx: Any) -> tuple[type, type, type]:
    """HybridBlock classes for BERT embeddings, attention and the whole network."""

    class Embeddings(mx.gluon.HybridBlock):
        def __init__(self, seq: int, vocab_size: int, hidden: int, max_positions: int,
                     type_vocab_size: int) -> None:
            super().__init__()
            self.seq, self.vocab, self.hidden = seq, vocab_size, hidden
            with self.name_scope():
                self.word = self.params.get("word", shape=(vocab_size, hidden))
                self.position = self.params.get("position", shape=(max_positions, hidden))
                self.token_type = self.params.get("token_type", shape=(type_vocab_size, hidden))

        def hybrid_forward(self, F: Any, ids: Any, word: Any, position: Any,
                           token_type: Any) -> Any:
            x = F.Embedding(ids, word, input_dim=self.vocab, output_dim=self.hidden)
            pos = F.expand_dims(F.slice_axis(position, axis=0, begin=0, end=self.seq), axis=0)
            tt = F.expand_dims(F.slice_axis(token_type, axis=0, begin=0, end=1), axis=0)
            return F.broadcast_add(F.broadcast_add(x, pos), tt)

    class Attention(mx.gluon.HybridBlock):
        def __init__(self, hidden: int, heads: int) -> None:
            super().__init__()
            self.hidden, self.heads = hidden, heads
            with self.name_scope():
                for p in ("q", "k", "v", "out"):
                    setattr(self, f"{p}_weight",
                            self.params.get(f"{p}_weight", shape=(hidden, hidden)))
                    setattr(self, f"{p}_bias", self.params.get(f"{p}_bias", shape=(hidden,)))

        def hybrid_forward(self, F: Any, x: Any, **w: Any) -> Any:
            h, heads = self.hidden, self.heads

            def split(t: str) -> Any:  # (N, S, H) -> (N * heads, S, H / heads)
                y = F.FullyConnected(x, w[f"{t}_weight"], w[f"{t}_bias"], num_hidden=h,
                                     flatten=False)
                y = F.transpose(F.reshape(y, shape=(0, 0, heads, -1)), axes=(0, 2, 1, 3))
                return F.reshape(y, shape=(-3, 0, 0))

            q, k, v = split("q"), split("k"), split("v")
            scores = F.batch_dot(q, k, transpose_b=True) * (1.0 / math.sqrt(h // heads))
            ctx = F.batch_dot(F.softmax(scores, axis=-1), v)
            ctx = F.transpose(F.reshape(ctx, shape=(-4, -1, heads, 0, 0)), axes=(0, 2, 1, 3))
            return F.FullyConnected(F.reshape(ctx, shape=(0, 0, -1)), w["out_weight"],
                                    w["out_bias"], num_hidden=h, flatten=False)

    class Net(mx.gluon.HybridBlock):
        """Walks the IR nodes in order: child blocks for parametrised nodes, else `_op`."""

        def __init__(self, model: Model, layer: Any, training: bool, **kw: Any) -> None:
            super().__init__(**kw)
            self.model, self.training = model, training
            self.layers: dict[str, Any] = {}
            with self.name_scope():
                for i, node in enumerate(model.nodes):
                    block = layer(node)
                    if block is not None:
                        self.layers[node.name] = block
                        self.register_child(block, f"n{i}")

        def hybrid_forward(self, F: Any, *inputs: Any) -> Any:
            model = self.model
            env = {spec.name: x for spec, x in zip(model.inputs, inputs)}
            for node in model.nodes:
                xs = [env[i] for i in node.inputs]
                block = self.layers.get(node.name)
                env[node.name] = block(xs[0]) if block is not None \
                    else _op(F, model, node, xs, self.training)
            return env[model.output]

    return Embeddings, Attention, Net


def _op(F: Any, model: Model, node: Node, xs: list, training: bool) -> Any:
    """A parameter-free IR op as MXNet operators (NCHW)."""
    x, op = xs[0], node.op
    if op == "relu":
        return F.Activation(x, act_type="relu")
    if op == "tanh":
        return F.tanh(x)
    if op == "gelu":
        return F.LeakyReLU(x, act_type="gelu")  # erf form in MXNet 1.9
    if op in ("maxpool", "avgpool"):
        return _pool(F, model, node, x)
    if op == "global_avgpool":
        y = F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg")
        return y if node.attr("keepdims") else F.flatten(y)
    if op in _MOBILE_OPS:
        return _MOBILE_OPS[op](F, node, xs)
    if op == "lrn":
        return _lrn(F, model, node, x, composed=training)
    if op == "concat":
        return F.concat(*xs, dim=1)
    if op == "add":
        y = xs[0]
        for other in xs[1:]:
            y = F.elemwise_add(y, other)
        return y
    if op == "dropout":
        return x  # identity (no Dropout block was made)
    if op == "flatten":
        return F.flatten(x)  # NCHW reshape: channel-major, as the IR
    if op == "softmax":
        return F.softmax(x, axis=-1)
    if op == "first_token":
        return F.reshape(F.slice_axis(x, axis=1, begin=0, end=1), shape=(0, -1))
    raise NotImplementedError(f"mxnet adapter: op {op!r} of node {node.name!r}")


def _clip(F: Any, node: Node, xs: list) -> Any:
    # MXNet's clip takes finite bounds only; float32's largest stands in for infinity.
    big = float(3.4e38)
    return F.clip(xs[0], max(node.attr("min"), -big), min(node.attr("max"), big))


def _channel_shuffle(F: Any, node: Node, xs: list) -> Any:
    """(N, C, H, W) -> (N, g, C/g, H, W) -> swap the two channel axes -> (N, C, H, W)."""
    t = F.reshape(xs[0], shape=(0, -4, node.attr("groups"), -1, -2))
    return F.reshape(F.swapaxes(t, dim1=1, dim2=2), shape=(0, -3, -2))


def _pad(F: Any, node: Node, xs: list) -> Any:
    top, bottom, left, right = node.attr("pads")
    return F.pad(xs[0], mode="constant", constant_value=float(node.attr("value")),
                 pad_width=(0, 0, 0, 0, top, bottom, left, right))


_MOBILE_OPS = {
    "clip": _clip,
    "sigmoid": lambda F, n, xs: F.sigmoid(xs[0]),
    "hardsigmoid": lambda F, n, xs: F.hard_sigmoid(xs[0], alpha=n.attr("alpha"),
                                                    beta=n.attr("beta")),
    "hardswish": lambda F, n, xs: xs[0] * F.hard_sigmoid(xs[0], alpha=1.0 / 6.0, beta=0.5),
    "silu": lambda F, n, xs: xs[0] * F.sigmoid(xs[0]),
    "mul": lambda F, n, xs: F.broadcast_mul(xs[0], xs[1]),
    "pad": _pad,
    "channel_shuffle": _channel_shuffle,
    "slice": lambda F, n, xs: F.slice_axis(xs[0], axis=1, begin=n.attr("begin"),
                                           end=n.attr("end")),
}


def _pool(F: Any, model: Model, node: Node, x: Any) -> Any:
    """Pooling with the IR's output size: MXNet's "full" convention keeps a last window that
    starts in the right padding, which PyTorch's ceil rule drops; slice it off."""
    _, h, w = model.shape_of(node.inputs[0])
    a = node.attributes
    (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return _padded_pool(F, node, x, (h, w))  # MXNet rejects windows over the padded input
    y = F.Pooling(x, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw),
                  pool_type="max" if node.op == "maxpool" else "avg",
                  pooling_convention="full" if a["ceil_mode"] else "valid",
                  count_include_pad=bool(a.get("count_include_pad", True)))
    oh, ow = node.shape[1], node.shape[2]
    full_h = -(-(h + 2 * ph - kh) // sh) + 1 if a["ceil_mode"] else oh
    full_w = -(-(w + 2 * pw - kw) // sw) + 1 if a["ceil_mode"] else ow
    if (full_h, full_w) != (oh, ow):
        y = F.slice(y, begin=(None, None, 0, 0), end=(None, None, oh, ow))
    return y


def _padded_pool(F: Any, node: Node, x: Any, hw: tuple[int, int]) -> Any:
    """Ceil-mode pooling whose window exceeds the padded input: pad explicitly to the IR's
    output size (-inf for max; for avg, divide window sums by pooled counts of a mask)."""
    a = node.attributes
    (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
    extra = [max(0, (o - 1) * s + k - n - 2 * p)
             for o, s, k, n, p in zip(node.shape[1:], (sh, sw), (kh, kw), hw, (ph, pw))]

    def pad(t: Any, inner: float, outer: float) -> Any:  # symmetric p with `inner`, then extra
        t = F.pad(t, mode="constant", constant_value=inner, pad_width=(0, 0, 0, 0, ph, ph, pw, pw))
        return F.pad(t, mode="constant", constant_value=outer,
                     pad_width=(0, 0, 0, 0, 0, extra[0], 0, extra[1]))

    def pool(t: Any, kind: str) -> Any:
        return F.Pooling(t, kernel=(kh, kw), stride=(sh, sw), pool_type=kind)

    if node.op == "maxpool":
        return pool(pad(x, float("-inf"), float("-inf")), "max")
    include = bool(a.get("count_include_pad", True))
    ones = F.ones_like(x)
    counts = pool(pad(ones, 1.0 if include else 0.0, 0.0), "avg")
    return pool(pad(x, 0.0, 0.0), "avg") / counts


def _lrn(F: Any, model: Model, node: Node, x: Any, composed: bool) -> Any:
    a = node.attributes
    size, alpha, beta, k = a["size"], a["alpha"], a["beta"], a["k"]
    if size % 2 == 1 and not composed:  # symmetric window, alpha divided by size, as the IR
        return F.LRN(x, alpha=alpha, beta=beta, knorm=k, nsize=size)
    # Window [c - size//2, c + (size-1)//2]: average-pool x^2 over channels (zero padded).
    c, h, w = model.shape_of(node.inputs[0])
    sq = F.reshape(F.square(x), shape=(-1, 1, c, h * w))
    mean = F.Pooling(sq, kernel=(size, 1), stride=(1, 1), pad=(size // 2, 0), pool_type="avg",
                     count_include_pad=True)
    mean = F.reshape(F.slice_axis(mean, axis=2, begin=0, end=c), shape=(-1, c, h, w))
    return x / F.power(k + alpha * mean, beta)

