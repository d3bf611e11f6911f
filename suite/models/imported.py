"""Imported models (ONNX files, `--model-file`) by name: the registry the zoo consults.

`resolve_model_files` imports each file (suite.models.onnx_import) and registers it under
its name, after which the name works wherever a zoo name does (`zoo.get_model`,
`zoo.title`, `zoo.input_shape`, `describe_zoo`). An imported model carries its own
weights: `model_weights(model, seed)` returns them for an imported model and the zoo's
drawn weights (suite.models.weights) for every other one. A worker is another process:
the runner hands it `model_files_setting()` inside the point settings and the worker calls
`register_model_files` with it before it builds (imports are cached by file, so a worker
imports each file once).
"""
from __future__ import annotations

import collections
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from suite.errors import UsageError
from suite.models.ir import Model

FILE_PREFIX = "file:"
_REGISTRY: dict[str, Any] = {}              # name -> ImportedModel
_CACHE: dict[tuple[str, str, int, int], Any] = {}   # (path, name, mtime_ns, size) -> import


def lookup(name: str) -> Any:
    """The ImportedModel registered as `name`, or None."""
    return _REGISTRY.get(name)


def is_imported(name: str) -> bool:
    return name in _REGISTRY


def registered_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def clear() -> None:
    """Forget every registered model (tests; a new CLI invocation starts empty anyway)."""
    _REGISTRY.clear()


def load(path: str, name: str | None = None) -> Any:
    """`import_onnx(path, name)`, cached while the file is unchanged."""
    from suite.models.onnx_import import import_onnx
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError:
        raise UsageError(f"model file {path}: no such file") from None
    key = (path, name or "", st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE[key] = import_onnx(path, name)
    return _CACHE[key]


def split_models_option(items: Iterable[str]) -> tuple[list[str], list[str]]:
    """`--models` items split into zoo names and the paths of `file:PATH` items."""
    names, paths = [], []
    for item in items:
        (paths if item.startswith(FILE_PREFIX) else names).append(
            item[len(FILE_PREFIX):] if item.startswith(FILE_PREFIX) else item)
    return names, paths


def resolve_model_files(paths: Sequence[str], names: Sequence[str] = ()) -> list[str]:
    """Import and register each file; its name is `names[i]` or the file's stem.

    UsageError (one line) for more names than files, an empty or duplicated name, a name
    the zoo already uses, and whatever the import refuses."""
    from suite.models import zoo
    if len(names) > len(paths):
        raise UsageError(f"{len(names)} --model-name values for {len(paths)} model files; "
                         "give at most one name per file, in the files' order")
    wanted = [names[i] if i < len(names) else
              os.path.splitext(os.path.basename(p))[0] for i, p in enumerate(paths)]
    for name, count in collections.Counter(wanted).items():
        if count > 1:
            raise UsageError(f"{count} model files are named {name!r}; give them different "
                             "names with --model-name")
    for name, path in zip(wanted, paths):
        if not name or name.startswith(FILE_PREFIX) or "," in name:
            raise UsageError(f"model file {path}: {name!r} is not a usable model name; "
                             "pass --model-name")
        if name in zoo.ALL_MODEL_NAMES:
            raise UsageError(f"model file {path}: the name {name!r} is a zoo model's; "
                             "pass another with --model-name")
    for name, path in zip(wanted, paths):
        _REGISTRY[name] = load(path, name)
    return wanted


def model_files_setting() -> dict[str, str]:
    """{name: absolute path} of every registered model, for the workers' settings."""
    return {name: found.path for name, found in _REGISTRY.items()}


def register_model_files(files: Mapping[str, str] | None) -> None:
    """In a worker: register the models of `model_files_setting()` (cached by file)."""
    for name, path in (files or {}).items():
        _REGISTRY[name] = load(path, name)


def file_weights(model: Model) -> dict[str, np.ndarray] | None:
    """An imported model's own weights (its file's initializers); None for any other model."""
    found = _REGISTRY.get(model.name)
    if found is not None and (found.model is model or found.model == model):
        return found.weights
    return None


def model_weights(model: Model, seed: int = 0) -> dict[str, np.ndarray]:
    """An imported model's own weights; the zoo's deterministic weights for any other."""
    arrays = file_weights(model)
    if arrays is not None:
        return arrays
    from suite.models.weights import make_weights
    return make_weights(model, seed)


def describe_model_file(path: str, name: str | None = None) -> str:
    """What `models --model-file PATH` prints: input, parameters, GMACs and op histograms."""
    from suite.models.counts import macs_per_item
    found = load(path, name)
    model = found.model
    ir_ops = collections.Counter(n.op for n in model.nodes)
    batch = "symbolic" if found.batch is None else f"fixed at {found.batch} in the file"
    shape = "x".join(str(d) for d in model.inputs[0].shape)
    rows = [
        f"{found.name}: {found.path}",
        f"  ONNX opset {found.opset}, sha256 {found.sha256[:16]}",
        f"  input        {shape} (batch {batch}; every batch size runs)"
        + ("; the file reads it channels-last (N, H, W, C)" if found.input_layout == "NHWC"
           else ""),
        f"  output       {'x'.join(str(d) for d in model.shape_of(model.output))}"
        + (f" ({model.num_classes} classes)" if model.num_classes else ""),
        f"  parameters   {model.param_count():,}",
        f"  GMACs        {macs_per_item(model) / 1e9:.3f} per image",
        f"  ops          {_histogram(ir_ops)}",
        f"  ONNX ops     {_histogram(found.onnx_ops)}",
    ]
    return "\n".join(rows)


def _histogram(counts: Mapping[str, int]) -> str:
    """"conv 52, batchnorm 52, relu 35": most frequent first, ties by name."""
    return ", ".join(f"{op} {n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def models_with_files(models_text: str | None, model_files: Sequence[str] | None,
                      model_names: Sequence[str] | None, default: str) -> list[str]:
    """The models of `--models` (zoo names, `all`, `file:PATH` items; `default` where it is
    not given) and of `--model-file`: zoo names validated, files imported and registered,
    zoo models first. With --model-file and no --models, only the files run."""
    from suite import options as opt
    from suite.models import zoo
    files = list(model_files or [])
    text = None if models_text is None and files else \
        (default if models_text is None else models_text)
    names: list[str] = []
    if text is not None:
        zoo_items, paths = split_models_option(t.strip() for t in text.split(","))
        files += paths
        if zoo_items or not paths:   # parse_names refuses a malformed or empty list
            names = opt.parse_names(",".join(zoo_items) if paths else text, "--models",
                                    zoo.ALL_MODEL_NAMES, everything=zoo.MODEL_NAMES)
    return names + resolve_model_files(files, list(model_names or []))
