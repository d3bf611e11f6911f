"""Deterministic weights for a `Model`: the same arrays on every run, platform and framework.

Each parameter gets its own generator, numpy's PCG64 seeded from (seed, a BLAKE2 hash of
the parameter's stable name), so a weight does not depend on the order of generation,
on Python's randomised `hash()`, or on which other parameters exist. PCG64's bit stream
is fixed and platform-independent; numpy may in principle change how it turns bits into
normal/uniform floats between versions (NEP 19), so tests pin a few drawn values.

The initialisation keeps activations in a sane range through deep networks at inference,
where batch norm uses the (random) running statistics rather than batch statistics:

- conv / dense weights: He-normal, N(0, 2 / fan_in), when the output feeds a ReLU-like
  activation (ReLU, ReLU6 and other clips at 0, SiLU, hardswish; directly or through a
  batch norm); LeCun-normal, N(0, 1 / fan_in), otherwise (classifiers, residual-branch
  ends, shortcuts). A conv or dense layer that reads a squeeze-excitation product (a `mul`
  by a sigmoid or hardsigmoid gate, about 0.5 on average) has its std doubled, so that
  EfficientNet's 16 gated blocks do not halve the signal 16 times. Biases N(0, 0.01^2).
- batch norm: gamma ~ U(0.8, 1.2), beta ~ U(-0.1, 0.1), running mean ~ U(-0.1, 0.1),
  running var ~ U(0.5, 1.5). The last batch norm of each residual branch gets
  gamma ~ U(0.2, 0.4), so that 50-100 residual blocks grow the signal only modestly.
- transformer models (any ``embeddings`` or ``attention`` node): every weight, embedding and
  bias N(0, 0.02^2) as in BERT; layer norm gamma ~ U(0.9, 1.1), beta N(0, 0.02^2).
"""
from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import numpy as np

from suite.errors import UsageError
from suite.models.ir import Model, Node, param_shapes, walk

BERT_STD = 0.02
BIAS_STD = 0.01


def _generator(seed: int, name: str) -> np.random.Generator:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *words])))


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    a = rng.standard_normal(shape, dtype=np.float32)
    a *= np.float32(std)
    return a


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], low: float,
             high: float) -> np.ndarray:
    a = rng.random(shape, dtype=np.float32)
    a *= np.float32(high - low)
    a += np.float32(low)
    return a


def _consumers(model: Model) -> dict[str, list[Node]]:
    users: dict[str, list[Node]] = {n.name: [] for n in model.nodes}
    for n in model.nodes:
        for i in n.inputs:
            users.setdefault(i, []).append(n)
    return users


RELU_LIKE = ("relu", "silu", "hardswish")     # and `clip` at 0 (ReLU6)
GATES = ("sigmoid", "hardsigmoid")


def _relu_like(node: Node) -> bool:
    return node.op in RELU_LIKE or (node.op == "clip" and float(node.attr("min", -1.0)) >= 0.0)


def _feeds_relu(node: Node, users: dict[str, list[Node]]) -> bool:
    """Whether the node's output goes into a ReLU-like activation, directly or through a
    batch norm."""
    for u in users[node.name]:
        if _relu_like(u) or (u.op == "batchnorm" and _feeds_relu(u, users)):
            return True
    return False


def _reads_gated(node: Node, by_name: dict[str, Node]) -> bool:
    """Whether the node reads a squeeze-excitation product: a `mul` one of whose inputs is
    a sigmoid or hardsigmoid gate."""
    for i in node.inputs:
        m = by_name.get(i)
        if m is not None and m.op == "mul" and any(
                by_name.get(g) is not None and by_name[g].op in GATES for g in m.inputs):
            return True
    return False


def _residual_branch_ends(model: Model, users: dict[str, list[Node]]) -> set[str]:
    """Batch norms that end a residual branch: of an add's inputs, the one reached by the
    strictly longest chain of single-use nodes from the fork (the shortcut is shorter)."""
    by_name = {n.name: n for n in model.nodes}

    def chain(name: str) -> int:
        if len(users.get(name, ())) > 1:
            return 0                                 # the fork itself: an identity shortcut
        steps = 0
        node = by_name.get(name)
        while node is not None and len(node.inputs) == 1 and len(users[node.inputs[0]]) == 1:
            node, steps = by_name.get(node.inputs[0]), steps + 1
        return steps

    ends = set()
    for n in model.nodes:
        if n.op != "add":
            continue
        lengths = sorted(((chain(i), i) for i in n.inputs), reverse=True)
        (longest, name), runner_up = lengths[0], lengths[1][0]
        if longest > runner_up and by_name.get(name) is not None \
                and by_name[name].op == "batchnorm":
            ends.add(name)
    return ends


def _fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


class Draw(NamedTuple):
    """How one parameter is drawn: everything its values depend on besides the seed."""

    key: str                    # the stable name, "<node>.<param>"
    op: str
    pname: str
    shape: tuple[int, ...]
    gain: float
    residual_end: bool
    transformer: bool


def _draw(d: Draw, rng: np.random.Generator) -> np.ndarray:
    """One parameter (see the module docstring for the rules)."""
    shape, pname = d.shape, d.pname
    if d.op == "batchnorm":
        if pname == "gamma":
            low, high = (0.2, 0.4) if d.residual_end else (0.8, 1.2)
            return _uniform(rng, shape, low, high)
        if pname == "var":
            return _uniform(rng, shape, 0.5, 1.5)
        return _uniform(rng, shape, -0.1, 0.1)          # beta, mean
    if d.op == "layernorm":
        return _uniform(rng, shape, 0.9, 1.1) if pname == "gamma" else _normal(rng, shape, BERT_STD)
    if d.transformer:
        return _normal(rng, shape, BERT_STD)
    if pname == "weight":
        return _normal(rng, shape, d.gain / math.sqrt(_fan_in(shape)))
    return _normal(rng, shape, BIAS_STD)


def weight_plan(model: Model) -> list[Draw]:
    """Every parameter's draw, in node order: with the seed, all the weights depend on
    (so a digest of it, the seed and this module's code keys the cache, suite.weights_cache)."""
    users = _consumers(model)
    ends = _residual_branch_ends(model, users)
    transformer = any(n.op in ("embeddings", "attention") for n in model.nodes)
    by_name = {n.name: n for n in model.nodes}
    plan = []
    for node, in_shapes in walk(model):
        gain = math.sqrt(2.0) if _feeds_relu(node, users) else 1.0
        gain *= 2.0 if _reads_gated(node, by_name) else 1.0
        for pname, shape in param_shapes(node, in_shapes).items():
            plan.append(Draw(f"{node.name}.{pname}", node.op, pname, tuple(shape), gain,
                             node.name in ends, transformer))
    return plan


def check_seed(seed: object) -> int:
    """`seed` itself when it is a non-negative integer; UsageError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"weight seed must be a non-negative integer, got {seed!r}")
    return seed


def make_weights(model: Model, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 arrays for every name in `model.param_shapes()` (BN running stats included)."""
    check_seed(seed)
    return {d.key: _draw(d, _generator(seed, d.key)) for d in weight_plan(model)}
