"""An independent float64 NumPy reading of the IR semantics (suite.models.ir), for adapter tests.

Written straight from the op descriptions in suite/models/ir.py with explicit loops where a
vectorised form would hide the rule (pool windows, LRN windows), so a test comparing an
adapter to it checks the adapter against the documented semantics, not against another
framework. Forward only; dropout is identity; batch-norm uses the running statistics, or
the batch statistics (biased variance) with `bn_batch_stats=True` as in a training step.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from suite.models.ir import GraphBuilder, Model, Node, pool_out


def random_weights(model: Model, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random weights (variances positive) for every parameter of `model`."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in model.param_shapes().items():
        fan_in = max(1, math.prod(shape[1:]))
        if name.endswith(".var"):
            w = rng.uniform(0.5, 1.5, shape)
        elif name.endswith((".gamma",)):
            w = rng.uniform(0.5, 1.5, shape)
        else:
            w = rng.standard_normal(shape) / math.sqrt(fan_in if len(shape) > 1 else 4)
        weights[name] = w.astype(np.float32)
    return weights


def random_inputs(model: Model, batch: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape = (batch, *t.shape)
        if t.dtype.startswith("int"):
            out[t.name] = rng.integers(0, t.high or 2, size=shape, dtype=np.int64)
        else:
            out[t.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |a - e| / max |e|: one figure for a whole tensor."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-12))


def forward(model: Model, weights: dict[str, np.ndarray], inputs: dict[str, np.ndarray],
            bn_batch_stats: bool = False) -> np.ndarray:
    """The model output for a batch (NCHW), computed in float64."""
    env = {k: np.asarray(v, np.float64) if v.dtype.kind == "f" else v for k, v in inputs.items()}
    for node in model.nodes:
        p = {k.split(".")[-1]: np.asarray(v, np.float64) for k, v in weights.items()
             if k.rsplit(".", 1)[0] == node.name}
        xs = [env[i] for i in node.inputs]
        if node.op == "batchnorm" and bn_batch_stats:
            axes = (0,) + tuple(range(2, xs[0].ndim))
            p = dict(p, mean=xs[0].mean(axis=axes), var=xs[0].var(axis=axes))
        env[node.name] = _OPS[node.op](node, xs, p)
    return env[model.output]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy over the batch."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def _conv(node: Node, xs: list, p: dict) -> np.ndarray:
    x, w, g = xs[0], p["weight"], node.attr("groups")
    (sh, sw), (ph, pw) = node.attr("stride"), node.attr("padding")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // g
    for gi in range(g):
        xg = x[:, gi * cg:(gi + 1) * cg]
        wg = w[gi * og:(gi + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]  # (n, cg, oh, ow)
                out[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    if "bias" in p:
        out += p["bias"][None, :, None, None]
    return out


def _windows(n: int, k: int, s: int, p: int, ceil: bool) -> list[tuple[int, int, int, int]]:
    """Per output index: (start, end) clipped to the input and the padded-extent divisor."""
    wins = []
    for i in range(pool_out(n, k, s, p, ceil)):
        start = i * s - p
        end_pad = min(start + k, n + p)
        lo, hi = max(start, 0), min(start + k, n)
        wins.append((lo, hi, end_pad - start, hi - lo))
    return wins


def _pool(node: Node, xs: list, p: dict) -> np.ndarray:
    x = xs[0]
    (kh, kw), (sh, sw), (ph, pw) = node.attr("kernel"), node.attr("stride"), node.attr("padding")
    ceil = node.attr("ceil_mode")
    rows = _windows(x.shape[2], kh, sh, ph, ceil)
    cols = _windows(x.shape[3], kw, sw, pw, ceil)
    out = np.zeros(x.shape[:2] + (len(rows), len(cols)))
    for i, (r0, r1, rpad, rin) in enumerate(rows):
        for j, (c0, c1, cpad, cin) in enumerate(cols):
            win = x[:, :, r0:r1, c0:c1]
            if node.op == "maxpool":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                div = rpad * cpad if node.attr("count_include_pad") else rin * cin
                out[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return out


def _lrn(node: Node, xs: list, p: dict) -> np.ndarray:
    x = xs[0]
    size, alpha, beta, k = (node.attr(a) for a in ("size", "alpha", "beta", "k"))
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layernorm(node: Node, xs: list, p: dict) -> np.ndarray:
    """Over the last axis, or over the channels (axis 1) of an (N, C, H, W) batch."""
    x = xs[0]
    axis = 1 if x.ndim == 4 else -1
    shape = (1, -1, 1, 1) if x.ndim == 4 else (-1,)
    mu, var = x.mean(axis, keepdims=True), x.var(axis, keepdims=True)
    return (x - mu) / np.sqrt(var + node.attr("eps")) * p["gamma"].reshape(shape) \
        + p["beta"].reshape(shape)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _hardsigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.minimum(np.maximum(alpha * x + beta, 0.0), 1.0)


def _pad(node: Node, xs: list, p: dict) -> np.ndarray:
    top, bottom, left, right = node.attr("pads")
    return np.pad(xs[0], ((0, 0), (0, 0), (top, bottom), (left, right)),
                  constant_values=node.attr("value"))


def _channel_shuffle(node: Node, xs: list, p: dict) -> np.ndarray:
    """out[k * groups + g] = in[g * C/groups + k], written as the index rule."""
    x, groups = xs[0], node.attr("groups")
    per = x.shape[1] // groups
    out = np.empty_like(x)
    for g in range(groups):
        for k in range(per):
            out[:, k * groups + g] = x[:, g * per + k]
    return out


def _mul(node: Node, xs: list, p: dict) -> np.ndarray:
    x, s = xs
    if s.shape != x.shape:          # (N, C, 1, 1) scale over (N, C, H, W)
        s = np.repeat(np.repeat(s, x.shape[2], axis=2), x.shape[3], axis=3)
    return x * s


def _global_avgpool(node: Node, xs: list, p: dict) -> np.ndarray:
    return xs[0].mean(axis=(2, 3), keepdims=bool(node.attr("keepdims", False)))


def _attention(node: Node, xs: list, p: dict) -> np.ndarray:
    x, heads = xs[0], node.attr("heads")
    n, s, h = x.shape
    d = h // heads
    q, k, v = (x @ p[f"{t}_weight"].T + p[f"{t}_bias"] for t in "qkv")
    ctx = np.zeros_like(x)
    for hd in range(heads):
        sl = slice(hd * d, (hd + 1) * d)
        att = _softmax(q[:, :, sl] @ k[:, :, sl].transpose(0, 2, 1) / math.sqrt(d))
        ctx[:, :, sl] = att @ v[:, :, sl]
    return ctx @ p["out_weight"].T + p["out_bias"]


def _batchnorm(node: Node, xs: list, p: dict) -> np.ndarray:
    shape = (1, -1) + (1,) * (xs[0].ndim - 2)
    inv = 1.0 / np.sqrt(p["var"] + node.attr("eps"))
    return (xs[0] - p["mean"].reshape(shape)) * (inv * p["gamma"]).reshape(shape) \
        + p["beta"].reshape(shape)


def _dense(node: Node, xs: list, p: dict) -> np.ndarray:
    y = xs[0] @ p["weight"].T
    return y + p["bias"] if "bias" in p else y


_OPS = {
    "conv": _conv,
    "batchnorm": _batchnorm,
    "relu": lambda n, xs, p: np.maximum(xs[0], 0),
    "tanh": lambda n, xs, p: np.tanh(xs[0]),
    "gelu": lambda n, xs, p: 0.5 * xs[0] * (1 + erf(xs[0] / math.sqrt(2))),
    "maxpool": _pool,
    "avgpool": _pool,
    "global_avgpool": _global_avgpool,
    "lrn": _lrn,
    "concat": lambda n, xs, p: np.concatenate(xs, axis=1),
    "add": lambda n, xs, p: sum(xs[1:], xs[0]),
    "dense": _dense,
    "dropout": lambda n, xs, p: xs[0],
    "flatten": lambda n, xs, p: xs[0].reshape(xs[0].shape[0], -1),
    "softmax": lambda n, xs, p: _softmax(xs[0]),
    "embeddings": lambda n, xs, p: p["word"][xs[0]] + p["position"][:xs[0].shape[1]]
    + p["token_type"][0],
    "layernorm": _layernorm,
    "attention": _attention,
    "first_token": lambda n, xs, p: xs[0][:, 0, :],
    "clip": lambda n, xs, p: np.minimum(np.maximum(xs[0], n.attr("min")), n.attr("max")),
    "sigmoid": lambda n, xs, p: _sigmoid(xs[0]),
    "hardsigmoid": lambda n, xs, p: _hardsigmoid(xs[0], n.attr("alpha"), n.attr("beta")),
    "hardswish": lambda n, xs, p: xs[0] * _hardsigmoid(xs[0], 1.0 / 6.0, 0.5),
    "silu": lambda n, xs, p: xs[0] * _sigmoid(xs[0]),
    "mul": _mul,
    "pad": _pad,
    "channel_shuffle": _channel_shuffle,
    "slice": lambda n, xs, p: xs[0][:, n.attr("begin"):n.attr("end")],
}


# ------------------------------------------------------------------- tiny test graphs

def image_graph(lrn_size: int = 5) -> Model:
    """Every image op once: grouped padded conv, BN, pools (ceil, both pad counts), LRN, concat,
    add, flatten after conv, dense, dropout, tanh, and the mobile CNNs' ops (mobile_branch).
    2x4x11x11 input, 10 classes."""
    b = GraphBuilder("tiny_image", "tiny image graph")
    x = b.input("image", (4, 11, 11))
    c1 = b.conv("c1", x, 8, 3, stride=1, padding=1, groups=2)
    bn = b.batchnorm("bn1", c1, eps=1e-3)
    r = b.unary("relu", "r1", bn)
    mp = b.maxpool("mp", r, 3, 2, padding=1, ceil_mode=True)         # 11 -> 6 (ceil)
    lrn = b.add("lrn", "lrn", [mp], size=lrn_size, alpha=1e-2, beta=0.75, k=2.0)
    ap1 = b.avgpool("ap_in", lrn, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)
    ap2 = b.avgpool("ap_ex", lrn, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
    cat = b.add("concat", "cat", [ap1, ap2])                          # 16 x 3 x 3
    c2 = b.conv("c2", cat, 16, 1, bias=False)
    add = b.add("add", "sum", [c2, cat])
    t = b.unary("tanh", "t", add)
    gp = b.unary("global_avgpool", "gap", t)
    fl = b.unary("flatten", "flat", t)                                # channel-major order
    d1 = b.dense("fc1", fl, 16)
    mobile = b.global_avgpool("m.pool", mobile_branch(b, lrn))
    both = b.add("add", "sum2", [d1, gp, mobile])
    dr = b.add("dropout", "drop", [both], rate=0.5)
    d2 = b.dense("fc2", dr, 10)
    return b.build(d2, num_classes=10)


def softmax_graph() -> Model:
    b = GraphBuilder("tiny_softmax", "softmax head")
    x = b.input("image", (3, 5, 5))
    c = b.conv("c", x, 4, 2, stride=2, padding=0)
    fl = b.unary("flatten", "flat", c)
    d = b.dense("fc", fl, 6)
    return b.build(b.unary("softmax", "prob", d))


def bert_graph(seq: int = 6, hidden: int = 8, heads: int = 2) -> Model:
    """Embeddings, layernorm, attention, dense on sequences, gelu, first_token."""
    b = GraphBuilder("tiny_bert", "tiny encoder")
    ids = b.input("input_ids", (seq,), dtype="int64", high=20)
    e = b.add("embeddings", "emb", [ids], vocab_size=20, hidden=hidden, max_positions=10,
              type_vocab_size=2)
    ln = b.add("layernorm", "ln0", [e], eps=1e-12)
    att = b.add("attention", "att", [ln], heads=heads)
    s = b.add("add", "res", [att, ln])
    ln1 = b.add("layernorm", "ln1", [s], eps=1e-5)
    ff = b.dense("ff", ln1, 16)
    g = b.unary("gelu", "gelu", ff)
    ff2 = b.dense("ff2", g, hidden)
    first = b.unary("first_token", "cls", ff2)
    pool = b.dense("pool", first, hidden)
    return b.build(b.unary("tanh", "pooled", pool))


def mobile_branch(b: GraphBuilder, x: str) -> str:
    """Every op of the mobile CNNs once, from an (8, 6, 6) map to a (16, 3, 4) one: depthwise
    conv, ReLU6, an asymmetric pad, channel split + concat + shuffle, a squeeze-excitation
    (keepdims pool, 1x1 convs, silu, hardsigmoid, broadcast mul), hardswish, a channel-
    multiplier depthwise conv, sigmoid, layer norm over channels, a general clip, a
    same-shape mul, ONNX's default hardsigmoid."""
    x = b.clip("m.relu6", b.batchnorm("m.bn", b.conv("m.pw", x, 8, 1, bias=False)))
    x = b.add("pad", "m.pad", [x], pads=(0, 1, 1, 2), value=0.0)            # 8 x 7 x 9
    dw = b.conv("m.dw", x, 8, 3, stride=2, groups=8, bias=False)            # 8 x 3 x 4
    left = b.add("slice", "m.left", [dw], begin=0, end=4)
    right = b.unary("hardswish", "m.hswish", b.add("slice", "m.right", [dw], begin=4, end=8))
    x = b.add("channel_shuffle", "m.shuffle", [b.add("concat", "m.cat", [left, right])],
              groups=2)
    s = b.global_avgpool("m.se.pool", x, keepdims=True)
    s = b.conv("m.se.fc1", b.unary("silu", "m.se.silu", b.conv("m.se.fc0", s, 4, 1)), 8, 1)
    x = b.add("mul", "m.se.scale", [x, b.hardsigmoid("m.se.gate", s)])
    x = b.unary("sigmoid", "m.sig", b.conv("m.dw2", x, 16, 3, padding=1, groups=8))
    x = b.clip("m.clip", b.add("layernorm", "m.ln", [x], eps=1e-5), -0.5, 0.75)
    x = b.add("mul", "m.gate", [x, b.unary("silu", "m.silu", x)])
    return b.hardsigmoid("m.hsig", x, 0.2, 0.5)


def pool_graph(n: int, kernel: int, stride: int, padding: int, ceil_mode: bool, op: str,
               count_include_pad: bool = True) -> Model:
    """One pooling node on a (3, n, n + 1) input."""
    b = GraphBuilder("tiny_pool", "one pool")
    x = b.input("image", (3, n, n + 1))
    if op == "maxpool":
        out = b.maxpool("pool", x, kernel, stride, padding, ceil_mode)
    else:
        out = b.avgpool("pool", x, kernel, stride, padding, ceil_mode, count_include_pad)
    return b.build(out)


def linear_classifier(features: int = 6, classes: int = 5) -> Model:
    """A single dense layer: its SGD step has a closed form (see sgd_reference)."""
    b = GraphBuilder("tiny_linear", "linear classifier")
    x = b.input("image", (features, 1, 1))
    return b.build(b.dense("fc", b.unary("flatten", "flat", x), classes), num_classes=classes)


def sgd_reference(weights: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray, steps: int,
                  lr: float, momentum: float, wd: float
                  ) -> tuple[list[float], dict[str, np.ndarray]]:
    """Losses and final weights of `steps` SGD steps on linear_classifier, as torch.optim.SGD:
    g = grad + wd * w; v = momentum * v + g (v = g at first); w -= lr * v."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    vel = {k: np.zeros_like(v) for k, v in w.items()}
    feats = x.reshape(len(x), -1).astype(np.float64)
    onehot = np.eye(w["fc.bias"].shape[0])[labels]
    losses = []
    for _ in range(steps):
        logits = feats @ w["fc.weight"].T + w["fc.bias"]
        losses.append(cross_entropy(logits, labels))
        p = np.exp(logits - logits.max(1, keepdims=True))
        dz = (p / p.sum(1, keepdims=True) - onehot) / len(labels)
        grads = {"fc.weight": dz.T @ feats, "fc.bias": dz.sum(0)}
        for k in w:
            vel[k] = momentum * vel[k] + grads[k] + wd * w[k]
            w[k] = w[k] - lr * vel[k]
    return losses, w
