"""Each model's deterministic weights drawn once and loaded by every worker process.

Drawing BERT-base's 109 M parameters (suite.models.weights) takes about 1.9 s; a point in
six fresh processes paid that six times. An entry is a folder of memory-mappable .npy
files, one per parameter, and a manifest; workers load them with
``np.load(mmap_mode="c")`` (each framework copies the values into its own tensors anyway).

- Key: the model's weight plan (every parameter's name, shape and init rule: the input
  size counts only where it changes a shape), the seed, and the code version (a digest of
  suite/models/weights.py, this module's format and numpy's version), so a change to the
  drawing code invalidates every entry.
- Where: `settings["weights_dir"]` when the runner passes one, else ``$DLBENCH_CACHE/weights``,
  else ``~/.cache/dlbench/weights``. ``DLBENCH_CACHE=off`` turns the cache off.
- Written into a temporary folder and renamed into place, so a concurrent worker sees a
  whole entry or none. An entry that does not verify (manifest, shapes, CRC-32 of every
  file) is drawn again and replaced, never trusted. The cache only saves time: a failure to
  write it leaves the drawn weights in use.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from suite.cache import CACHE_ENV, cache_root  # noqa: F401 (CACHE_ENV: its users read it here)
from suite.models import weights as weights_module
from suite.models.ir import Model
from suite.models.weights import Draw, check_seed, make_weights, weight_plan

FORMAT = 1                       # the entry layout; raise it when the layout changes
MANIFEST = "manifest.json"


class LoadedWeights(NamedTuple):
    """A model's weights and where they came from."""

    arrays: dict[str, np.ndarray]
    source: str     # "cache" (loaded), "drawn+stored", "drawn" (cache off or not writable),
    #                 "file" (an imported model's own)


def cache_dir(settings: Mapping[str, Any] | None = None) -> Path | None:
    """The cache folder for these point settings; None when ``DLBENCH_CACHE=off``."""
    root = cache_root()
    if root is None:
        return None
    given = (settings or {}).get("weights_dir")
    return Path(given) if given else root / "weights"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of what turns a plan and a seed into values: the drawing code, numpy's
    version (NEP 19 lets it change how bits become floats) and the entry format."""
    h = hashlib.blake2b(digest_size=16)
    h.update(Path(weights_module.__file__).read_bytes())
    h.update(f"numpy {np.__version__}; format {FORMAT}".encode())
    return h.hexdigest()


def _plan_digest(plan: list[Draw], seed: int) -> str:
    rows = [[d.key, d.op, d.pname, list(d.shape), repr(d.gain), d.residual_end, d.transformer]
            for d in plan]
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([code_version(), seed, rows]).encode())
    return h.hexdigest()


def entry_name(model: Model, seed: int, plan: list[Draw] | None = None) -> str:
    """The entry's folder name: the model's name (for people) and the key's digest."""
    plan = weight_plan(model) if plan is None else plan
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.name)[:60] or "model"
    return f"{safe}-seed{seed}-{_plan_digest(plan, seed)[:24]}"


def read_entry(path: Path, plan: list[Draw], seed: int) -> dict[str, np.ndarray] | None:
    """The entry's arrays (memory-mapped, copy-on-write), or None unless every file is
    there with the plan's names, shapes and float32 dtype and its recorded CRC-32."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        params = manifest["params"]
        if manifest.get("format") != FORMAT or manifest.get("code") != code_version() \
                or manifest.get("seed") != seed or len(params) != len(plan):
            return None
        arrays: dict[str, np.ndarray] = {}
        for d, item in zip(plan, params):
            if item.get("key") != d.key or "/" in item["file"]:
                return None
            a = np.load(path / item["file"], mmap_mode="c", allow_pickle=False)
            if a.dtype != np.float32 or a.shape != d.shape or \
                    zlib.crc32(a) != item["crc32"]:
                return None
            arrays[d.key] = a
        return arrays
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None   # unreadable, truncated or not ours: drawn again


def write_entry(root: Path, name: str, arrays: Mapping[str, np.ndarray], seed: int,
                replace: bool = False) -> bool:
    """Store `arrays` as the entry `name` under `root` atomically; False when it cannot.
    An entry already there is kept (another worker's, as good as ours) unless `replace`
    (it did not verify)."""
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
        params = []
        for i, (key, a) in enumerate(arrays.items()):
            a = np.ascontiguousarray(a, dtype=np.float32)
            file = f"{i:05d}.npy"
            np.save(tmp / file, a, allow_pickle=False)
            params.append({"key": key, "file": file, "crc32": zlib.crc32(a)})
        (tmp / MANIFEST).write_text(json.dumps(
            {"format": FORMAT, "code": code_version(), "seed": seed, "params": params}))
        _move_into_place(tmp, root / name, replace)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: Path, final: Path, replace: bool) -> None:
    """Rename `tmp` to `final`; an entry there is moved aside first when `replace`."""
    try:
        os.rename(tmp, final)
        return
    except OSError:
        if not final.exists():
            raise
    if not replace:
        return                      # another worker's entry won the race: keep it
    stale = final.with_name(f".stale-{final.name}-{os.getpid()}")
    try:
        os.rename(final, stale)
    except OSError:
        return                      # someone else moved it meanwhile: keep whatever is there
    shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        pass                        # another worker's fresh entry got there first


def load_weights(model: Model, seed: int = 0, root: Path | None = None) -> LoadedWeights:
    """`make_weights(model, seed)`, bit for bit: from the cache under `root` when a valid
    entry is there, else drawn and stored there (`root` None: drawn, nothing stored)."""
    check_seed(seed)
    if root is None:
        return LoadedWeights(make_weights(model, seed), "drawn")
    plan = weight_plan(model)
    name = entry_name(model, seed, plan)
    found = read_entry(root / name, plan, seed)
    if found is not None:
        return LoadedWeights(found, "cache")
    stale = (root / name).exists()      # there but unusable: replace it
    arrays = make_weights(model, seed)
    stored = write_entry(root, name, arrays, seed, replace=stale)
    return LoadedWeights(arrays, "drawn+stored" if stored else "drawn")


def point_weights(model: Model, seed: int, settings: Mapping[str, Any] | None = None
                  ) -> LoadedWeights:
    """A worker's weights for one point: an imported model's own (its file's), else the
    drawn ones through the cache that `settings` and the environment choose."""
    from suite.models import imported
    found = imported.lookup(model.name)
    if found is not None and (found.model is model or found.model == model):
        return LoadedWeights(found.weights, "file")
    return load_weights(model, seed, cache_dir(settings))
