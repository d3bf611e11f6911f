"""The model zoo: one registry line per model, lookup by name, input-size validation.

A builder takes the input size (image side, or sequence length for text models) and
returns a `Model`; the registry adds the display title and the reference accuracy.
Adding a model = one builder function in a family module + one `_REGISTRY` line.
"""
from __future__ import annotations

import dataclasses
import functools
import operator
from dataclasses import dataclass
from typing import Any, Callable

from suite.errors import UsageError
from suite.models import (bert, cnn_classic, densenet, efficientnet, imported, inception,
                          mobilenet, resnet, shufflenet)
from suite.models.counts import macs_per_item
from suite.models.ir import GraphError, Model


@dataclass(frozen=True)
class ZooEntry:
    """How to build one model and what the zoo says about it."""

    title: str
    build: Callable[[int], Model]
    default_size: int = 224
    reference_top5: float | None = None   # ImageNet-1k top-5 %, seed 003's column
    kind: str = "image"                   # "image": input (3, S, S); "text": token ids (S,)
    max_size: int | None = None           # largest valid input size, where there is one


_REGISTRY: dict[str, ZooEntry] = {
    # seed 003's order
    "caffenet": ZooEntry("CaffeNet", cnn_classic.caffenet, 227, 78.3),
    "squeezenet": ZooEntry("SqueezeNet", cnn_classic.squeezenet, 224, 78.8),
    "nin": ZooEntry("NIN", cnn_classic.nin, 224, 81.3),
    "resnet18": ZooEntry("ResNet-18", resnet.resnet18, 224, 88.7),
    "resnet34": ZooEntry("ResNet-34", resnet.resnet34, 224, 91.0),
    "inception_bn": ZooEntry("Inception-BN", inception.inception_bn, 224, 90.8),
    "resnet50": ZooEntry("ResNet-50", resnet.resnet50, 224, 92.6),
    "inception_v3": ZooEntry("Inception-v3", inception.inception_v3, 299, 93.3),
    "vgg16": ZooEntry("VGG16", cnn_classic.vgg16, 224, 89.8),
    "resnet101": ZooEntry("ResNet-101", resnet.resnet101, 224, 93.3),
    "vgg19": ZooEntry("VGG19", cnn_classic.vgg19, 224, 89.8),
    "resnet152": ZooEntry("ResNet-152", resnet.resnet152, 224, 93.1),
    "resnet200": ZooEntry("ResNet-200", resnet.resnet200, 224, None),
    "resnext50": ZooEntry("ResNeXt-50", resnet.resnext50, 224, 93.3),
    "resnext101": ZooEntry("ResNeXt-101", resnet.resnext101, 224, 94.1),
    "resnext101_64x4d": ZooEntry("ResNeXt-101-64x4d", resnet.resnext101_64x4d, 224, 94.3),
    # inference seeds
    "bert_base": ZooEntry("BERT-base", bert.bert_base, 128, None, "text", 512),
    # beyond the seeds: in ALL_MODEL_NAMES only (BERT-large: 335M parameters, too heavy for
    # the every-model loops of tests and default sweeps; ResNet-50 v1: the Gluon/Keras
    # variant, for benchmarks/zoo_parity.py)
    "bert_large": ZooEntry("BERT-large", bert.bert_large, 128, None, "text", 512),
    "resnet50_v1": ZooEntry("ResNet-50 v1", resnet.resnet50_v1, 224, None),
    # modern CNNs (torchvision's layouts), for the ops imported networks use and the ONNX
    # importer's proof (no seed-003 accuracy figure)
    "mobilenet_v2": ZooEntry("MobileNetV2", mobilenet.mobilenet_v2, 224, None),
    "mobilenet_v3_large": ZooEntry("MobileNetV3-Large", mobilenet.mobilenet_v3_large, 224, None),
    "efficientnet_b0": ZooEntry("EfficientNet-B0", efficientnet.efficientnet_b0, 224, None),
    "shufflenet_v2": ZooEntry("ShuffleNetV2-1.0", shufflenet.shufflenet_v2_x1_0, 224, None),
    "densenet121": ZooEntry("DenseNet-121", densenet.densenet121, 224, None),
}

MODERN_MODEL_NAMES: tuple[str, ...] = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
                                       "shufflenet_v2", "densenet121")
EXTRA_MODEL_NAMES: tuple[str, ...] = ("bert_large", "resnet50_v1", *MODERN_MODEL_NAMES)
MODEL_NAMES: tuple[str, ...] = tuple(n for n in _REGISTRY if n not in EXTRA_MODEL_NAMES)
ALL_MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _entry(name: str) -> ZooEntry:
    if name in _REGISTRY:
        return _REGISTRY[name]
    found = imported.lookup(name)
    if found is None:
        valid = ", ".join(ALL_MODEL_NAMES + imported.registered_names())
        raise UsageError(f"unknown model {name!r}; valid: {valid}")
    return ZooEntry(found.model.title, lambda size: found.model,
                    found.model.inputs[0].shape[1], None)


def is_imported(name: str) -> bool:
    """True for a model imported from a file (`--model-file`): its input size is the file's."""
    return name not in _REGISTRY and imported.is_imported(name)


def title(name: str) -> str:
    """Display name, e.g. "ResNet-50"."""
    return _entry(name).title


def is_image_model(name: str) -> bool:
    """True for image classifiers (input (3, S, S)), False for text models (token ids)."""
    return _entry(name).kind == "image"


def default_input_size(name: str) -> int:
    """Image side (227 CaffeNet, 299 Inception-v3, 224 others) or sequence length (128)."""
    return _entry(name).default_size


@functools.lru_cache(maxsize=None)
def min_input_size(name: str) -> int:
    """The smallest input size at which the network is valid (found by building it); an
    imported model's is its file's."""
    if is_imported(name):
        return default_input_size(name)
    entry = _entry(name)
    for size in range(1, entry.default_size + 1):
        try:
            entry.build(size)
        except GraphError:
            continue
        return size
    raise RuntimeError(f"zoo bug: {name} does not build at its default size")


def input_shape(name: str, input_size: int | None = None) -> tuple[int, ...]:
    """Per-item input shape: (3, S, S) for images, (S,) for token ids; an imported model's
    own (C, H, W)."""
    if is_imported(name):
        return imported.lookup(name).model.inputs[0].shape
    size = default_input_size(name) if input_size is None else input_size
    return (3, size, size) if is_image_model(name) else (size,)


def _positive_int(value: object) -> int:
    """`value` as an int when it is a positive integer (numpy integers too), else 0."""
    if isinstance(value, bool):
        return 0
    try:
        return max(operator.index(value), 0)  # type: ignore[arg-type]
    except TypeError:
        return 0


def get_model(name: str, input_size: int | None = None) -> Model:
    """The network `name` for `input_size` (None: the model's default size).

    Raises UsageError for an unknown name or an input size the network cannot take (an
    imported model takes only its file's size).
    """
    entry = _entry(name)
    if is_imported(name):
        if input_size is not None and input_size != entry.default_size:
            raise UsageError(f"{name}: the model file fixes the input at "
                             f"{'x'.join(map(str, input_shape(name)))}; image size "
                             f"{input_size} cannot apply")
        return entry.build(entry.default_size)
    size = entry.default_size if input_size is None else _positive_int(input_size)
    what = "image size" if entry.kind == "image" else "sequence length"
    if size < 1:
        raise UsageError(f"{name}: {what} must be a positive integer, got {input_size!r}")
    if entry.max_size is not None and size > entry.max_size:
        raise UsageError(f"{name}: {what} {size} is too large; the largest valid is "
                         f"{entry.max_size}")
    return _build(name, size)


@functools.lru_cache(maxsize=64)
def _build(name: str, size: int) -> Model:
    entry = _REGISTRY[name]
    what = "image size" if entry.kind == "image" else "sequence length"
    try:
        model = entry.build(size)
    except GraphError as exc:
        smallest = min_input_size(name)
        if size < smallest:
            raise UsageError(f"{name}: {what} {size} is too small; the smallest valid is "
                             f"{smallest}") from None
        raise UsageError(f"{name}: {what} {size} is not valid ({exc})") from None
    return dataclasses.replace(model, name=name, title=entry.title,
                               reference_top5=entry.reference_top5)


def describe_zoo(names: tuple[str, ...] = MODEL_NAMES, image_size: int | None = None,
                 seq_len: int | None = None) -> list[dict[str, Any]]:
    """One row per model, for `python -m suite models`.

    Sizes default to each model's own; with `image_size` (`seq_len`) image (text) models are
    described at that size, or at their smallest valid size where that is larger - the row's
    input_shape always says which size its figures are for. Imported models (registered
    through suite.models.imported) are described at their file's size.
    """
    rows = []
    for name in names:
        size = image_size if is_image_model(name) else seq_len
        if is_imported(name):
            size = None         # the file fixes it
        if size is not None:
            size = max(size, min_input_size(name))
        model = get_model(name, size)
        rows.append({
            "name": name,
            "title": model.title,
            "input_shape": input_shape(name, size),
            "params": model.param_count(),
            "gmacs": macs_per_item(model) / 1e9,
            "reference_top5": model.reference_top5,
            "notes": model.notes,
        })
    return rows
