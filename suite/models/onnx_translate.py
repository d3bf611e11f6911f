"""The importer's graph walk: ONNX nodes in order into a GraphBuilder, weights by stable name.

Every ONNX tensor maps to one value: a constant (initializers and folded shape arithmetic,
suite.models.onnx_fold), an IR tensor (a node or the input), or a *pending form* that the
next op may fuse (a pooled map that a Flatten turns into a plain global average, a sigmoid
that `x * sigmoid(x)` turns into SiLU, a MatMul waiting for its bias, the (g, C/g, H, W)
view of a channel shuffle, the channels-last view around a layer norm); a form is emitted as
its own IR node when any other op reads it. The op handlers live in suite.models.onnx_ops.
Ops that cannot be mapped are counted, not raised one by one: the walk goes on (what
depends on them is skipped) so that the one error lists every unsupported op type.
"""
from __future__ import annotations

import collections
import re
from typing import Any

import numpy as np

from suite.models import onnx_fold
from suite.models import onnx_layout as layout
from suite.models import onnx_ops as ops
from suite.models.ir import GraphBuilder, GraphError, Shape
from suite.models.onnx_ops import (ChannelsLast, Gate, Linear, Pooled, Unsupported, View,
                                   opset_attr)

_POISON = object()   # the output of an op that could not be imported
INPUT = "data"       # the description's input name (the file's is kept by the importer)


class Poisoned(Exception):
    """An op reads the output of an op that could not be imported (skipped silently)."""


class TranslationFailed(Exception):
    """Some ops could not be mapped: `unsupported` counts them by label."""

    def __init__(self, unsupported: dict[str, int]) -> None:
        super().__init__(unsupported)
        self.unsupported = unsupported


class Translator:
    """State of one import: values by ONNX name, the builder, the weights, the refusals."""

    def __init__(self, graph: Any, input_name: str, per_item: Shape, name: str,
                 fixed_batch: int | None, channels_last: bool = False) -> None:
        from onnx import numpy_helper
        self.b = GraphBuilder(name, name)
        self.fixed_batch = fixed_batch     # a Reshape may spell the batch as this number
        self.weights: dict[str, np.ndarray] = {}
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in graph.initializer}
        x = self.b.input(INPUT, per_item)     # a channels-last file input is read transposed
        self.values: dict[str, Any] = {input_name: ChannelsLast(x) if channels_last else x}
        self.uses: collections.Counter[str] = collections.Counter(
            i for n in graph.node for i in n.input if i)
        self.uses.update(o.name for o in graph.output)
        self.unsupported: collections.Counter[str] = collections.Counter()
        self._taken: set[str] = {INPUT}
        self.graph = graph

    # ---- reading values
    def is_const(self, name: str) -> bool:
        return name in self.consts

    def const(self, name: str, what: str) -> np.ndarray:
        """The constant `name`; Unsupported("<what>") when it is computed at run time."""
        if name not in self.consts:
            self._check(name)
            raise Unsupported(what)
        return self.consts[name]

    def form(self, name: str) -> Any:
        self._check(name)
        if name not in self.values:
            raise Unsupported("a constant where a tensor is expected")
        return self.values[name]

    def _check(self, name: str) -> None:
        if self.values.get(name) is _POISON:
            raise Poisoned(name)

    def ir(self, name: str) -> str:
        """The IR tensor for ONNX tensor `name`, emitting a pending form (once) if need be."""
        value = self.form(name)
        if isinstance(value, str):
            return value
        if isinstance(value, Pooled):
            out = self.emit("global_avgpool", f"{value.src}.pool", [value.src], keepdims=True)
        elif isinstance(value, Gate):
            attrs = {"alpha": value.alpha, "beta": value.beta} if value.op == "hardsigmoid" else {}
            out = self.emit(value.op, value.hint, [value.src], **attrs)
        elif isinstance(value, Linear):
            out = self.emit("dense", value.hint, [value.src], {"weight": value.weight},
                            units=value.weight.shape[0], bias=False)
        elif isinstance(value, View):
            raise Unsupported("Reshape (channel groups)")
        else:
            raise Unsupported("Transpose (channels-last)")
        self.values[name] = out
        return out

    def shape(self, name: str) -> Shape:
        """Per-item shape of ONNX tensor `name` (a constant's full shape)."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        value = self.form(name)
        if isinstance(value, str):
            return self.b.shape(value)
        return value.shape(self.b)

    # ---- writing
    def unique(self, hint: str) -> str:
        """A node name from `hint` that TF and Python accept and no other node has."""
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", hint.strip("/").replace("/", ".")).strip(".")
        base = base if base[:1].isalnum() else f"n{base}"
        name, i = base, 1
        while name in self._taken:
            name, i = f"{base}_{i}", i + 1
        self._taken.add(name)
        return name

    def emit(self, op: str, hint: str, inputs: list[str],
             params: dict[str, np.ndarray | None] | None = None, **attrs: Any) -> str:
        """Append an IR node named after `hint`; its parameters become weights."""
        name = self.unique(hint)
        self.b.add(op, name, inputs, **attrs)
        for pname, value in (params or {}).items():
            if value is not None:
                self.weights[f"{name}.{pname}"] = np.array(value, dtype=np.float32)
        return name

    # ---- the walk
    def run(self) -> str:
        """Translate every node; the IR output, or TranslationFailed with the refusals."""
        for node in self.graph.node:
            try:
                self._node(node)
            except Unsupported as e:
                self.unsupported[e.label] += 1
                self._poison(node)
            except Poisoned:
                self._poison(node)
        if self.unsupported:
            raise TranslationFailed(dict(self.unsupported))
        output = self.graph.output[0].name
        if output in self.consts:
            raise GraphError("the graph's output is a constant")
        return self.ir(output)

    def _poison(self, node: Any) -> None:
        for out in node.output:
            if out:
                self.values[out] = _POISON

    def _node(self, node: Any) -> None:
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        ins = list(node.input)
        for i in ins:
            if i:
                self._check(i)
        if op == "Shape" and ins[0] not in self.consts:   # a tensor's: the batch as a marker
            per_item = self.shape(ins[0])
            self.consts[node.output[0]] = onnx_fold.shape_of(per_item, node)
            return
        if all(not i or i in self.consts for i in ins):
            try:
                outs = onnx_fold.fold(node, [self.consts[i] if i else None for i in ins])
            except onnx_fold.NotConstant as e:
                raise Unsupported(f"{op} (on constants)" if op in HANDLERS
                                  else str(e).split(" (")[0]) from None
            self.consts.update(zip(node.output, outs))
            return
        handler = HANDLERS.get(op)
        if handler is None:
            raise Unsupported(op)
        if layout.reads_channels_last(self, node, ins):     # tf2onnx's unoptimized graphs
            result = layout.in_channels_first(self, node, ins, handler)
        else:
            result = handler(self, node, ins)
        results = result if isinstance(result, list) else [result]
        for out, value in zip(node.output, results):
            if out:
                self.values[out] = value

    def hint(self, node: Any, param: str | None = None) -> str:
        """A node's name: its weight's initializer name without ".weight" where there is
        one (torch.onnx writes the module's), else the ONNX node's name or first output."""
        if param and not param.startswith("onnx::") and param in self.consts:
            return param[:-len(".weight")] if param.endswith(".weight") else param
        return node.name or node.output[0]

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        return opset_attr(node, name, default)


def _softmax(t: Translator, node: Any, ins: list[str]) -> str:
    x = t.ir(ins[0])
    if len(t.b.shape(x)) != 1 or t.attr(node, "axis", -1) not in (-1, 1):
        raise Unsupported("Softmax (not over a vector)")
    return t.emit("softmax", t.hint(node), [x])


def _dropout(t: Translator, node: Any, ins: list[str]) -> str:
    rate = float(t.consts[ins[1]]) if len(ins) > 1 and ins[1] in t.consts else 0.5
    return t.emit("dropout", t.hint(node), [t.ir(ins[0])], rate=rate)


HANDLERS: dict[str, Any] = {
    "Conv": ops.conv, "MaxPool": ops.pool, "AveragePool": ops.pool,
    "GlobalAveragePool": ops.global_pool, "ReduceMean": ops.reduce_mean,
    "BatchNormalization": ops.batchnorm, "LRN": ops.lrn,
    "Relu": ops.unary("relu"), "Tanh": ops.unary("tanh"),
    "HardSwish": ops.unary("hardswish"), "Clip": ops.clip,
    "Sigmoid": ops.gate, "HardSigmoid": ops.gate, "Mul": ops.mul, "Add": ops.add, "Sum": ops.add,
    "Gemm": ops.gemm, "MatMul": ops.matmul,
    "Flatten": layout.flatten, "Squeeze": layout.squeeze, "Reshape": layout.reshape,
    "Transpose": layout.transpose, "LayerNormalization": layout.layernorm,
    "Concat": layout.concat, "Split": layout.split, "Slice": layout.slice_, "Pad": layout.pad,
    "Softmax": _softmax, "Dropout": _dropout, "Identity": lambda t, n, ins: t.form(ins[0]),
}
SUPPORTED_OPS = tuple(sorted(HANDLERS))
