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
# CLI name -> the distributions whose versions change its figures (a resume checks them).
PACKAGES: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "mxnet": ("mxnet",),
    "tensorflow": ("tensorflow", "keras"),
    "onnx": ("onnxruntime", "onnxruntime-gpu", "onnx"),
}
ALIASES = {"onnxruntime": "onnx", "torch": "pytorch", "tf": "tensorflow"}
OPTIMIZATIONS = ("none", "script", "compile")


def canonical(name: str) -> str:
    """The registry name for a CLI name or alias; KeyError when unknown."""
    name = ALIASES.get(name, name)
    if name not in REGISTRY:
        raise KeyError(name)
    return name


def adapter_class(name: str) -> type[Adapter]:
    """The adapter class for a registry name or alias (imports its module, not its framework)."""
    module_name, class_name = REGISTRY[canonical(name)]
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def get_adapter(name: str) -> Adapter:
    """A new adapter instance for a registry name or alias (imports its module, not its framework)."""
    return adapter_class(name)()


def deployed_optimization(name: str, task: str) -> str:
    """The optimization users of a framework deploy for `task`: the default of `--opts`.

    "none" where the adapter declares no deployed mode for the task (a task it does not
    support, such as onnx training): that point is then recorded as skipped with the reason.
    """
    return adapter_class(name).deployed.get(task, "none")


def deployed_modes(task: str) -> dict[str, str]:
    """Each registered framework that has `task` -> the optimization its users deploy."""
    modes = {}
    for name in REGISTRY:
        try:
            deployed = adapter_class(name).deployed
        except ImportError:   # a broken adapter module: its points are skipped when run
            continue
        if task in deployed:
            modes[name] = deployed[task]
    return modes


def mode_name(name: str, optimization: str) -> str:
    """What tables and plots call an optimization of a framework ("eager", "hybridized").

    The optimization itself for a framework or mode the registry does not know (e.g. in
    a run stored by another version), so an old run still renders.
    """
    try:
        names = adapter_class(name).mode_names
    except (KeyError, ImportError):
        return optimization
    return names.get(optimization, optimization)


def mode_label(name: str, optimization: str) -> str:
    """"pytorch (eager)": a framework and the mode that ran, for table columns and legends."""
    return f"{name} ({mode_name(name, optimization)})"
