"""Helpers shared by the adapter tests: an available adapter or a skip, and a built runnable.

A framework named in DLBENCH_REQUIRE_FRAMEWORKS (a comma list, or "all"; .ci/run sets it)
must be available: where it is not, its tests fail instead of skipping, so CI cannot pass
by testing nothing. GPU tests still skip without a GPU.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

import frameworks
from frameworks import get_adapter
from frameworks.base import BuildRequest

REQUIRE_ENV = "DLBENCH_REQUIRE_FRAMEWORKS"
_ADAPTERS: dict = {}


def required_frameworks() -> set[str]:
    """The registry names that must be available here (from DLBENCH_REQUIRE_FRAMEWORKS)."""
    names = {n.strip() for n in os.environ.get(REQUIRE_ENV, "").split(",") if n.strip()}
    if "all" in names:
        return set(frameworks.REGISTRY)
    return {frameworks.canonical(n) if n in frameworks.ALIASES else n for n in names}


def skip_or_fail(framework: str, reason: str) -> NoReturn:
    """Skip the test because `framework` is unavailable, or fail it where it is required."""
    if framework in required_frameworks():
        pytest.fail(f"{framework} is required here ({REQUIRE_ENV}) but unavailable: {reason}",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def import_or_skip(module: str, framework: str, install: str) -> ModuleType:
    """pytest.importorskip for a framework's package, failing where `framework` is required."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        skip_or_fail(framework, f"{module} cannot be imported ({e}): {install}")


def adapter_or_skip(framework: str):
    """The registry's adapter for `framework`; skips the test, with the install hint, if absent
    (fails instead where the framework is required)."""
    if framework not in _ADAPTERS:
        _ADAPTERS[framework] = get_adapter(framework)
    a = _ADAPTERS[framework]
    avail = a.availability()
    if not avail.ok:
        skip_or_fail(framework, f"{framework} unavailable: {avail.reason} ({avail.install})")
    return a


def run(adapter, model, weights, inputs, opt="none", task="infer", labels=None, steps=1, **kw):
    """Build, bind inputs, run `steps` steps and synchronize."""
    batch = len(next(iter(inputs.values())))
    runnable = adapter.build(BuildRequest(model, weights, task, opt, batch, **kw))
    runnable.set_inputs(inputs, labels)
    for _ in range(steps):
        runnable.step()
    runnable.synchronize()
    return runnable
