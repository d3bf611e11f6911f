"""Import an ONNX file into the zoo's framework-neutral description (suite.models.ir).

Importers translate; adapters build: `import_onnx` returns a `Model` and its weights (the
file's initializers, in the layouts ir.py documents) and nothing framework-specific, so
every adapter builds the network natively as it builds a zoo model.

What is accepted (anything else is a UsageError of one line):

- an ONNX file (opset >= 13 of the default domain) with one float32 input of shape
  (N, C, H, W) and one output; or a channels-last input (N, H, W, C) that every reader
  transposes to (N, C, H, W) first (tf2onnx's export of a Keras model): the description's
  input is then (C, H, W), `ImportedModel.input_layout` says "NHWC", and the equivalence
  check feeds the file the probe transposed. The first input dimension is the batch: a symbolic
  dimension ("batch", "N") or a fixed number. Either way the description is per item
  (C, H, W) and runs at every batch size a sweep asks for; a fixed batch is recorded
  (`ImportedModel.batch`) and is the batch the equivalence check feeds ONNX Runtime, which
  accepts only that batch for such a file. Every other dimension must be a fixed number.
- the ops in onnx_translate.SUPPORTED_OPS, in the forms the description has ops for (see
  onnx_ops / onnx_layout): BatchNormalization stays a batch norm (not folded into the conv),
  Conv keeps its bias, Gemm or MatMul + Add become a dense layer, Flatten / Reshape /
  Squeeze before the classifier a flatten (or a plain global average after
  GlobalAveragePool), `x * Sigmoid(x)` SiLU, `x * HardSigmoid(x)` (1/6, 1/2) hardswish;
  shape arithmetic on constants (Shape, Gather, Concat, ...) is evaluated.

Unsupported ops are all listed in one line with their counts, e.g. "model.onnx: cannot
import 3 ops: NonMaxSuppression x1, Loop x2 (supported: ...)".
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite.errors import UsageError
from suite.models.ir import GraphError, Model

MIN_OPSET = 13


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """An imported network: the description, its weights and where they came from."""

    model: Model
    weights: dict[str, np.ndarray]
    path: str                       # absolute path of the file
    sha256: str
    opset: int
    batch: int | None               # the file's fixed batch, None when symbolic
    input_name: str                 # the file's input (the description's is "data")
    output_name: str
    onnx_ops: dict[str, int] = field(default_factory=dict)   # op type -> count in the file
    input_layout: str = "NCHW"      # the file's input: "NCHW", or "NHWC" (see above)

    @property
    def name(self) -> str:
        return self.model.name


def _load(path: str) -> tuple[Any, bytes]:
    """The parsed ModelProto and the file's bytes; UsageError for missing or non-ONNX files."""
    try:
        import onnx
    except ImportError:
        raise UsageError("reading ONNX files needs the onnx package: pip install onnx") from None
    if not os.path.isfile(path):
        raise UsageError(f"model file {path}: no such file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"model file {path}: cannot be read ({e.strerror})") from None
    try:
        proto = onnx.load_model_from_string(data)
        if not proto.graph.node:
            raise ValueError("no graph")
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
            onnx.load_external_data_for_model(proto, os.path.dirname(path) or ".")
    except Exception:  # noqa: BLE001 - protobuf raises many types for a non-ONNX file
        raise UsageError(f"model file {path}: not an ONNX model") from None
    return proto, data


def _opset(proto: Any, path: str) -> int:
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    opset = max(versions, default=0)
    if opset < MIN_OPSET:
        raise UsageError(f"model file {path}: opset {opset} is below {MIN_OPSET}; re-export it "
                         f"with opset {MIN_OPSET} or later (torch.onnx.export(..., "
                         "opset_version=17), or onnx.version_converter)")
    return opset


def channels_last(graph: Any, name: str) -> bool:
    """Whether every node reading the input `name` is a Transpose to (N, C, H, W): the file
    takes images channels-last (N, H, W, C)."""
    readers = [n for n in graph.node if name in n.input]
    return bool(readers) and all(
        n.op_type == "Transpose" and [a.ints for a in n.attribute if a.name == "perm"]
        == [[0, 3, 1, 2]] for n in readers)


def _input(proto: Any, path: str) -> tuple[str, tuple[int, ...], int | None, str]:
    """The graph's one input: its name, per-item shape (C, H, W), fixed batch (None if
    symbolic) and layout ("NCHW", or "NHWC": its (H, W, C) is given as (C, H, W))."""
    from onnx import TensorProto
    inits = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(proto.graph.output) != 1:
        raise UsageError(f"model file {path}: {len(inputs)} inputs and "
                         f"{len(proto.graph.output)} outputs; dlbench imports graphs with one "
                         "image input (N, C, H, W) and one output")
    spec = inputs[0]
    tensor = spec.type.tensor_type
    if tensor.elem_type != TensorProto.FLOAT:
        raise UsageError(f"model file {path}: input {spec.name!r} is "
                         f"{TensorProto.DataType.Name(tensor.elem_type).lower()}; dlbench "
                         "imports float32 image inputs")
    dims = list(tensor.shape.dim)
    if len(dims) != 4:
        raise UsageError(f"model file {path}: input {spec.name!r} has {len(dims)} dimensions; "
                         "dlbench imports image inputs (N, C, H, W)")
    per_item = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:])
    if min(per_item) < 1:
        raise UsageError(f"model file {path}: input {spec.name!r} has dynamic dimensions "
                         f"other than the batch ({_dims_text(dims)}); fix them when exporting "
                         "(only the first, the batch, may be symbolic)")
    batch = dims[0].dim_value if dims[0].HasField("dim_value") and dims[0].dim_value > 0 \
        else None
    if channels_last(proto.graph, spec.name):
        return spec.name, (per_item[2], per_item[0], per_item[1]), batch, "NHWC"
    return spec.name, per_item, batch, "NCHW"


def _dims_text(dims: list[Any]) -> str:
    return "x".join(d.dim_param or str(d.dim_value) if d.HasField("dim_value") or d.dim_param
                    else "?" for d in dims)


def _refusal(path: str, unsupported: dict[str, int]) -> UsageError:
    from suite.models.onnx_translate import SUPPORTED_OPS
    listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
    total = sum(unsupported.values())
    return UsageError(f"model file {path}: cannot import {total} op{'s' if total > 1 else ''}: "
                      f"{listed} (supported: {', '.join(SUPPORTED_OPS)})")


def import_onnx(path: str, name: str | None = None) -> ImportedModel:
    """The ONNX file at `path` as a description named `name` (default: the file's stem)."""
    from suite.models.onnx_translate import TranslationFailed, Translator
    path = os.path.abspath(path)
    proto, data = _load(path)
    opset = _opset(proto, path)
    input_name, per_item, batch, layout = _input(proto, path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    translator = Translator(proto.graph, input_name, per_item, name, batch,
                            channels_last=layout == "NHWC")
    try:
        output = translator.run()
    except TranslationFailed as e:
        raise _refusal(path, e.unsupported) from None
    except GraphError as e:
        raise UsageError(f"model file {path}: {e}") from None
    shape = translator.b.shape(output)
    histogram: dict[str, int] = {}
    for node in proto.graph.node:
        histogram[node.op_type] = histogram.get(node.op_type, 0) + 1
    classes = shape[0] if len(shape) == 1 and translator.b.nodes[-1].op != "softmax" else None
    model = translator.b.build(output, num_classes=classes, notes=(
        f"imported from {os.path.basename(path)} (ONNX opset {opset}, batch "
        f"{'symbolic' if batch is None else batch}, input {layout}, "
        f"sha256 {hashlib.sha256(data).hexdigest()[:12]})"))
    _check_output(proto, path, shape)
    return ImportedModel(dataclasses.replace(model, title=name), translator.weights, path,
                         hashlib.sha256(data).hexdigest(), opset, batch, input_name,
                         proto.graph.output[0].name, histogram, layout)


def _check_output(proto: Any, path: str, shape: tuple[int, ...]) -> None:
    """The declared output shape, where the file states it, must be what was imported."""
    dims = list(proto.graph.output[0].type.tensor_type.shape.dim)
    declared = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    if dims and (len(declared) != len(shape) or any(
            d is not None and d != s for d, s in zip(declared, shape))):
        raise UsageError(f"model file {path}: the imported network's output is {shape} per "
                         f"item, the file declares {_dims_text(dims)}")
