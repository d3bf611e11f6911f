"""ONNX handlers that move data rather than compute it: Flatten, Squeeze, Reshape,
Transpose, Concat, Split, Slice, Pad, and LayerNormalization (whose image form comes
wrapped in transposes). Reshapes and transposes are accepted in the patterns the
description has ops for: flattening before a classifier, ShuffleNet's channel shuffle
(reshape to (N, g, C/g, H, W), swap the two channel axes, reshape back) and the
channels-last view around a layer norm over channels (ConvNeXt's LayerNorm2d).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from suite.models.onnx_fold import BATCH
from suite.models.onnx_ops import ChannelsLast, Pooled, Unsupported, View

if TYPE_CHECKING:
    from suite.models.onnx_translate import Translator


def _flat(t: Translator, node: Any, name: str) -> str:
    """(C, H, W) -> (C,): a pooled map becomes a plain global average."""
    value = t.form(name)
    if isinstance(value, Pooled):
        return t.emit("global_avgpool", t.hint(node), [value.src], keepdims=False)
    x = t.ir(name)
    return x if len(t.b.shape(x)) == 1 else t.emit("flatten", t.hint(node), [x])


def flatten(t: Translator, node: Any, ins: list[str]) -> str:
    if t.attr(node, "axis", 1) != 1:
        raise Unsupported("Flatten (axis other than 1)")
    return _flat(t, node, ins[0])


def squeeze(t: Translator, node: Any, ins: list[str]) -> str:
    axes = t.attr(node, "axes")
    if axes is None and len(ins) > 1 and ins[1]:
        axes = t.const(ins[1], "Squeeze (axes computed at run time)").tolist()
    if t.shape(ins[0])[1:] != (1, 1) or sorted(int(a) % 4 for a in axes or (2, 3)) != [2, 3]:
        raise Unsupported("Squeeze (other than (N, C, 1, 1) -> (N, C))")
    return _flat(t, node, ins[0])


def _per_item(t: Translator, node: Any, shape: tuple[int, ...], target: np.ndarray
              ) -> tuple[int, ...]:
    """A Reshape's target without the batch axis (0 copies, one -1 solved)."""
    dims = [int(v) for v in target.reshape(-1)]
    allowzero = t.attr(node, "allowzero", 0)
    if not dims or dims[0] not in (BATCH, 0, -1, t.fixed_batch):
        raise Unsupported("Reshape (of the batch axis)")
    rest = [shape[i] if v == 0 and not allowzero and i < len(shape) else v
            for i, v in enumerate(dims[1:])]
    size = math.prod(shape)
    if dims[0] == -1 and -1 not in rest and math.prod(rest) == size:
        return tuple(rest)
    if rest.count(-1) == 1:
        known = math.prod(v for v in rest if v != -1)
        rest[rest.index(-1)] = size // known if known and size % known == 0 else -2
    if dims[0] == -1 or min(rest, default=1) < 1 or math.prod(rest) != size:
        raise Unsupported("Reshape (of the batch axis)")
    return tuple(rest)


def reshape(t: Translator, node: Any, ins: list[str]) -> Any:
    value, shape = t.form(ins[0]), t.shape(ins[0])
    target = _per_item(t, node, shape, t.const(ins[1], "Reshape (shape computed at run time)"))
    if target == shape:
        return value
    if isinstance(value, View) and len(target) == 3:     # back to (C, H, W)
        if not value.swapped:
            return value.src
        return t.emit("channel_shuffle", t.hint(node), [value.src], groups=value.groups)
    if len(target) == 1 and len(shape) == 3:
        return _flat(t, node, ins[0])
    if len(shape) == 3 and len(target) == 4 and target[2:] == shape[1:] \
            and not isinstance(value, View):
        return View(t.ir(ins[0]), target[0], False)
    raise Unsupported("Reshape")


def transpose(t: Translator, node: Any, ins: list[str]) -> Any:
    value = t.form(ins[0])
    perm = tuple(t.attr(node, "perm", ()))
    if isinstance(value, View) and perm == (0, 2, 1, 3, 4):
        return View(value.src, value.groups, not value.swapped)
    if isinstance(value, ChannelsLast) and perm == (0, 3, 1, 2):
        return value.src
    if perm == (0, 2, 3, 1) and not isinstance(value, (View, ChannelsLast)) \
            and len(t.shape(ins[0])) == 3:
        return ChannelsLast(t.ir(ins[0]))
    raise Unsupported("Transpose")


def layernorm(t: Translator, node: Any, ins: list[str]) -> Any:
    value = t.form(ins[0])
    gamma = t.const(ins[1], "LayerNormalization (scale computed at run time)")
    beta = t.const(ins[2], "LayerNormalization (bias computed at run time)") \
        if len(ins) > 2 and ins[2] else np.zeros_like(gamma)
    rank = len(t.shape(ins[0]))
    if t.attr(node, "axis", -1) not in (-1, rank) or len([o for o in node.output if o]) > 1:
        raise Unsupported("LayerNormalization (over several axes)")
    x = value.src if isinstance(value, ChannelsLast) else t.ir(ins[0])
    if not isinstance(value, ChannelsLast) and rank == 3:
        raise Unsupported("LayerNormalization (over an image's width)")
    out = t.emit("layernorm", t.hint(node, ins[1]), [x], {"gamma": gamma, "beta": beta},
                 eps=float(t.attr(node, "epsilon", 1e-5)))
    return ChannelsLast(out) if isinstance(value, ChannelsLast) else out


# ------------------------------------------------------------------ channels

def _channel_axis(t: Translator, node: Any, name: str, axis: int) -> None:
    rank = len(t.shape(name)) + 1
    if axis % rank != 1:
        raise Unsupported(f"{node.op_type} (along an axis other than the channels)")


def concat(t: Translator, node: Any, ins: list[str]) -> str:
    _channel_axis(t, node, ins[0], t.attr(node, "axis", 1))
    if any(t.is_const(i) for i in ins):
        raise Unsupported("Concat (with a constant)")
    xs = [t.ir(i) for i in ins]
    return xs[0] if len(xs) == 1 else t.emit("concat", t.hint(node), xs)


def split(t: Translator, node: Any, ins: list[str]) -> list[str]:
    _channel_axis(t, node, ins[0], t.attr(node, "axis", 0))
    x, outputs = t.ir(ins[0]), [o for o in node.output]
    channels = t.b.shape(x)[0]
    if len(ins) > 1 and ins[1]:
        sizes = [int(v) for v in t.const(ins[1], "Split (sizes computed at run time)")]
    elif t.attr(node, "split") is not None:
        sizes = [int(v) for v in t.attr(node, "split")]
    else:
        step = -(-channels // len(outputs))
        sizes = [min(step, channels - i * step) for i in range(len(outputs))]
    begins = np.cumsum([0] + sizes[:-1])
    return [t.emit("slice", f"{t.hint(node)}.{i}", [x], begin=int(b), end=int(b + n))
            for i, (b, n) in enumerate(zip(begins, sizes))]


def slice_(t: Translator, node: Any, ins: list[str]) -> str:
    starts, ends = (t.const(i, "Slice (bounds computed at run time)").reshape(-1)
                    for i in ins[1:3])
    axes = t.const(ins[3], "Slice (axes computed at run time)").reshape(-1) \
        if len(ins) > 3 and ins[3] else np.arange(len(starts))
    steps = t.const(ins[4], "Slice (steps computed at run time)").reshape(-1) \
        if len(ins) > 4 and ins[4] else np.ones(len(starts), np.int64)
    x = t.ir(ins[0])
    rank = len(t.b.shape(x)) + 1
    if len(starts) != 1 or int(axes[0]) % rank != 1 or int(steps[0]) != 1:
        raise Unsupported("Slice (other than a channel range)")
    channels = t.b.shape(x)[0]
    begin, end = (int(v) + channels if int(v) < 0 else min(int(v), channels)
                  for v in (starts[0], ends[0]))
    return t.emit("slice", t.hint(node), [x], begin=begin, end=end)


def pad(t: Translator, node: Any, ins: list[str]) -> str:
    if t.attr(node, "mode", "constant") != "constant":
        raise Unsupported(f"Pad ({t.attr(node, 'mode')} mode)")
    pads = [int(v) for v in t.const(ins[1], "Pad (pads computed at run time)").reshape(-1)]
    value = float(t.const(ins[2], "Pad (value computed at run time)").reshape(-1)[0]) \
        if len(ins) > 2 and ins[2] else 0.0
    x = t.ir(ins[0])
    full = [0] * 8
    axes = [int(a) % 4 for a in t.const(ins[3], "Pad (axes computed at run time)")] \
        if len(ins) > 3 and ins[3] else list(range(4))
    if len(pads) != 2 * len(axes) or len(t.b.shape(x)) != 3:
        raise Unsupported("Pad (not on an image)")
    for k, axis in enumerate(axes):
        full[axis], full[axis + 4] = pads[k], pads[k + len(axes)]
    if any(full[i] for i in (0, 1, 4, 5)) or min(full) < 0:
        raise Unsupported("Pad (of the batch or channels, or cropping)")
    return t.emit("pad", t.hint(node), [x], pads=(full[2], full[6], full[3], full[7]),
                  value=value)


# ------------------------------------------------------------------ channels-last graphs

# ops that tf2onnx (without its optimizer) leaves between the transposes around each conv,
# on (N, H, W, C) tensors: run on the channels-first tensor instead, the result a view again
CHANNELS_LAST_OPS = ("Relu", "Clip", "Tanh", "HardSwish", "Add", "Sum", "Mul", "ReduceMean",
                     "Pad", "Identity")
_NCHW_OF_NHWC = (0, 3, 1, 2)       # an NCHW axis's NHWC axis


def reads_channels_last(t: Translator, node: Any, ins: list[str]) -> bool:
    """Whether `node` is one of CHANNELS_LAST_OPS and every tensor it reads is a
    channels-last view (constants aside)."""
    if node.op_type not in CHANNELS_LAST_OPS:
        return False
    tensors = [i for i in ins if i and not t.is_const(i)]
    return bool(tensors) and all(isinstance(t.form(i), ChannelsLast) for i in tensors)


def _const_nchw(c: np.ndarray) -> np.ndarray | None:
    """A constant broadcast over (N, H, W, C) as the same constant over (N, C, H, W): a
    scalar stays, a per-channel vector ((C,), (1, C), (1, 1, C), (1, 1, 1, C)) becomes
    (1, C, 1, 1); None for anything else."""
    if c.size == 1:
        return c
    if c.ndim >= 1 and c.shape[-1] == c.size:
        return c.reshape(1, -1, 1, 1)
    return None


def in_channels_first(t: Translator, node: Any, ins: list[str], handler: Any) -> Any:
    """Run `handler` on the channels-first tensors behind the channels-last views it reads,
    with constants and axes moved to match; its image result is a channels-last view again
    (a ReduceMean over H and W gives the channels vector, which has no layout)."""
    from onnx import helper
    saved_values = {i: t.values[i] for i in ins if i in t.values}
    saved_consts = {i: t.consts[i] for i in ins if i in t.consts}
    n = node
    try:
        for i, v in saved_values.items():
            t.values[i] = v.src
        if node.op_type == "Pad":
            pads = t.const(ins[1], "Pad (pads computed at run time)")
            if len(pads) != 8:
                raise Unsupported("Pad (channels-last, not 4-D)")
            order = list(_NCHW_OF_NHWC)
            t.consts[ins[1]] = np.concatenate([pads[:4][order], pads[4:][order]])
        elif node.op_type == "ReduceMean":
            axes = t.attr(node, "axes")
            if axes is None and len(ins) > 1 and ins[1]:
                axes = t.const(ins[1], "ReduceMean (axes computed at run time)").tolist()
            if sorted(int(a) % 4 for a in axes or ()) != [1, 2]:
                raise Unsupported("ReduceMean (channels-last, not over H and W)")
            n = helper.make_node("ReduceMean", [ins[0]], list(node.output), name=node.name,
                                 axes=[2, 3], keepdims=int(t.attr(node, "keepdims", 1)))
            if t.attr(node, "keepdims", 1):
                raise Unsupported("ReduceMean (channels-last, keepdims)")
        else:
            for i, c in saved_consts.items():
                moved = _const_nchw(np.asarray(c))
                if moved is None:
                    raise Unsupported(f"{node.op_type} (channels-last, broadcast)")
                t.consts[i] = moved
        result = handler(t, n, list(n.input))
    finally:
        t.values.update(saved_values)
        t.consts.update(saved_consts)
    if node.op_type == "ReduceMean":
        return result
    if not isinstance(result, str):
        raise Unsupported(f"{node.op_type} (channels-last)")
    return ChannelsLast(result)
