"""Constant evaluation of an ONNX graph's shape arithmetic, for the importer.

Exporters compute reshape targets, pads and split sizes at run time from `Shape` of a
tensor (torch.onnx writes `x.view(x.size(0), -1)` as Shape, Gather, Unsqueeze, Concat,
Reshape). The importer knows every tensor's per-item shape, so such subgraphs are constants
once the batch is: `Shape` gives the batch as BATCH, a sentinel no real dimension takes,
which Gather, Concat, Slice and friends carry along to the Reshape that consumes it (where
the importer reads it as "the batch axis"). Arithmetic on the sentinel yields numbers that
match no per-item shape, so such a reshape is refused, not misread.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

BATCH = 1_000_003       # stands for the batch dimension in evaluated shapes
_NP_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
             9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


class NotConstant(Exception):
    """The node cannot be evaluated here (an op or a form this folder does not know)."""


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _constant(node: Any, xs: list) -> np.ndarray:
    from onnx import numpy_helper
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.asarray(a.f if a.name == "value_float" else a.i,
                              np.float32 if a.name == "value_float" else np.int64)
        if a.name in ("value_floats", "value_ints"):
            return np.asarray(list(a.floats) if a.name == "value_floats" else list(a.ints),
                              np.float32 if a.name == "value_floats" else np.int64)
    raise NotConstant("Constant (sparse or string value)")


def _axes(node: Any, xs: list, position: int) -> list[int] | None:
    """Axes from the attribute (older opsets) or the optional input at `position`."""
    if len(xs) > position and xs[position] is not None:
        return [int(a) for a in np.asarray(xs[position]).reshape(-1)]
    axes = _attr(node, "axes")
    return None if axes is None else [int(a) for a in axes]


def _unsqueeze(node: Any, xs: list) -> np.ndarray:
    out = np.asarray(xs[0])
    rank = out.ndim + len(_axes(node, xs, 1) or [])
    for axis in sorted(a % rank for a in _axes(node, xs, 1) or []):
        out = np.expand_dims(out, axis)
    return out


def _squeeze(node: Any, xs: list) -> np.ndarray:
    axes = _axes(node, xs, 1)
    x = np.asarray(xs[0])
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(a % x.ndim for a in axes))


def _slice(node: Any, xs: list) -> np.ndarray:
    x = np.asarray(xs[0])
    starts, ends = (np.asarray(v).reshape(-1).tolist() for v in xs[1:3])
    axes = _axes(node, xs, 3) or list(range(len(starts)))
    steps = np.asarray(xs[4]).reshape(-1).tolist() if len(xs) > 4 and xs[4] is not None \
        else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis % x.ndim] = slice(int(start), int(end), int(step))
    return x[tuple(index)]


def _reshape(node: Any, xs: list) -> np.ndarray:
    x, shape = np.asarray(xs[0]), [int(v) for v in np.asarray(xs[1]).reshape(-1)]
    if not _attr(node, "allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(np.asarray(a, np.float64) / b).astype(np.result_type(a, b))
    return np.asarray(a / b, np.result_type(a, b))


FOLDERS: dict[str, Callable[[Any, list], Any]] = {
    "Constant": _constant,
    "Identity": lambda n, xs: xs[0],
    "Shape": lambda n, xs: np.asarray(np.shape(xs[0]), np.int64)[
        _attr(n, "start", 0):_attr(n, "end", None)],
    "Cast": lambda n, xs: np.asarray(xs[0]).astype(_NP_TYPES[_attr(n, "to")]),
    "Gather": lambda n, xs: np.take(np.asarray(xs[0]), np.asarray(xs[1]), axis=_attr(n, "axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda n, xs: np.concatenate([np.atleast_1d(x) for x in xs], axis=_attr(n, "axis")),
    "Slice": _slice,
    "Reshape": _reshape,
    "Transpose": lambda n, xs: np.transpose(xs[0], _attr(n, "perm")),
    "ConstantOfShape": lambda n, xs: np.full(
        [int(v) for v in np.asarray(xs[0]).reshape(-1)],
        _constant(n, []).reshape(-1)[0] if _attr(n, "value") is not None else np.float32(0)),
    "Add": lambda n, xs: np.add(xs[0], xs[1]),
    "Sub": lambda n, xs: np.subtract(xs[0], xs[1]),
    "Mul": lambda n, xs: np.multiply(xs[0], xs[1]),
    "Div": lambda n, xs: _divide(np.asarray(xs[0]), np.asarray(xs[1])),
    "Neg": lambda n, xs: np.negative(xs[0]),
    "Equal": lambda n, xs: np.equal(xs[0], xs[1]),
    "Where": lambda n, xs: np.where(xs[0], xs[1], xs[2]),
    "Range": lambda n, xs: np.arange(np.asarray(xs[0]).item(), np.asarray(xs[1]).item(),
                                     np.asarray(xs[2]).item()).astype(np.asarray(xs[0]).dtype),
    "Min": lambda n, xs: np.minimum.reduce([np.asarray(x) for x in xs]),
    "Max": lambda n, xs: np.maximum.reduce([np.asarray(x) for x in xs]),
    "Sqrt": lambda n, xs: np.sqrt(xs[0]),
    "Floor": lambda n, xs: np.floor(xs[0]),
    "Ceil": lambda n, xs: np.ceil(xs[0]),
}


def shape_of(per_item: tuple[int, ...], node: Any) -> np.ndarray:
    """`Shape` of a batch of per-item shape `per_item` (the batch as BATCH; start/end attrs)."""
    full = np.asarray((BATCH, *per_item), np.int64)
    start, end = _attr(node, "start", 0), _attr(node, "end", None)
    return full[start:end]


def fold(node: Any, xs: list) -> list[np.ndarray]:
    """The outputs of `node` given constant inputs (None for an absent optional input)."""
    fn = FOLDERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if fn is None:
        raise NotConstant(node.op_type)
    try:
        return [np.asarray(fn(node, xs))]
    except NotConstant:
        raise
    except Exception as e:  # noqa: BLE001 - a form this folder does not evaluate
        raise NotConstant(f"{node.op_type} ({type(e).__name__}: {e})") from e
