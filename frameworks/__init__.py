"""Framework adapters behind one interface (see frameworks.base).

The registry maps CLI names to the module and class of each adapter; modules are imported
only when an adapter is asked for, so a missing framework never breaks the others.
"""
from __future__ import annotations

import importlib

from frameworks.base import Adapter

# CLI name -> (module, class). Adding a framework = one file + one line here.
REGISTRY: dict[str, tuple[str, str]] = {
    "pytorch": ("frameworks.pytorch", "PyTorchAdapter"),
    "mxnet": ("frameworks.mxnet_gluon", "MXNetAdapter"),
    "tensorflow": ("frameworks.tensorflow_keras", "TensorFlowAdapter"),
    "onnx": ("frameworks.onnx_runtime", "OnnxRuntimeAdapter"),
}
ALIASES = {"onnxruntime": "onnx", "torch": "pytorch", "tf": "tensorflow"}
OPTIMIZATIONS = ("none", "script", "compile")


def canonical(name: str) -> str:
    """The registry name for a CLI name or alias; KeyError when unknown."""
    name = ALIASES.get(name, name)
    if name not in REGISTRY:
        raise KeyError(name)
    return name


def get_adapter(name: str) -> Adapter:
    """A new adapter instance for a registry name or alias (imports its module, not its framework)."""
    module_name, class_name = REGISTRY[canonical(name)]
    module = importlib.import_module(module_name)
    return getattr(module, class_name)()
