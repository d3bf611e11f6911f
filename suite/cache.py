"""Where dlbench keeps what it learns once and reuses across runs (weights, the CPU peak).

``$DLBENCH_CACHE`` names the folder (default ``~/.cache/dlbench``); ``DLBENCH_CACHE=off``
turns every cache off. Each user of it takes a subfolder or file of its own.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DLBENCH_CACHE"
OFF_VALUES = ("off", "0", "no", "none", "false")


def cache_root() -> Path | None:
    """The cache folder, or None when ``DLBENCH_CACHE=off``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env.lower() in OFF_VALUES:
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dlbench"
