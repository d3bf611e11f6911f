"""suite.weights_cache: weights drawn once, loaded bit for bit, never trusted when damaged;
and a worker's set-up time per process (`setup_s`)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapter_helpers import skip_or_fail
from suite import weights_cache as wc
from suite.models import zoo
from suite.models.weights import make_weights
from suite.spec import PointSpec


@pytest.fixture(scope="module")
def resnet18():
    return zoo.get_model("resnet18", 32)


def assert_bit_identical(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for key, a in want.items():
        b = got[key]
        assert b.dtype == a.dtype == np.float32 and b.shape == a.shape, key
        assert np.asarray(b).tobytes() == a.tobytes(), key


def the_entry(root: Path) -> Path:
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1, entries
    return entries[0]


def test_second_load_comes_from_the_cache_bit_identical(tmp_path, resnet18):
    want = make_weights(resnet18, 3)
    first = wc.load_weights(resnet18, 3, tmp_path)
    assert first.source == "drawn+stored"
    assert_bit_identical(first.arrays, want)
    second = wc.load_weights(resnet18, 3, tmp_path)
    assert second.source == "cache"
    assert_bit_identical(second.arrays, want)
    assert all(isinstance(a, np.memmap) for a in second.arrays.values())   # mapped, not read
    assert [p.name for p in tmp_path.iterdir()] == [the_entry(tmp_path).name]   # no temp left


def test_no_root_draws_and_stores_nothing(tmp_path, resnet18):
    got = wc.load_weights(resnet18, 0, None)
    assert got.source == "drawn"
    assert_bit_identical(got.arrays, make_weights(resnet18, 0))


def test_the_key_follows_seed_shapes_and_code_not_the_input_size(tmp_path, resnet18,
                                                                 monkeypatch):
    name = wc.entry_name(resnet18, 0)
    assert wc.entry_name(zoo.get_model("resnet18", 64), 0) == name   # same shapes, same draws
    assert wc.entry_name(resnet18, 1) != name
    assert wc.entry_name(zoo.get_model("caffenet", 67), 0) != \
        wc.entry_name(zoo.get_model("caffenet", 99), 0)             # fc6's fan-in changes
    wc.load_weights(resnet18, 0, tmp_path)
    monkeypatch.setattr(wc, "code_version", lambda: "a changed weights.py")
    assert wc.entry_name(resnet18, 0) != name
    assert wc.load_weights(resnet18, 0, tmp_path).source == "drawn+stored"


def damage_truncate(entry: Path) -> None:
    f = entry / "00003.npy"
    f.write_bytes(f.read_bytes()[:-16])


def damage_flip_a_value(entry: Path) -> None:
    f = entry / "00000.npy"
    data = bytearray(f.read_bytes())
    data[-5] ^= 0x40                      # a float's bits, the header intact
    f.write_bytes(bytes(data))


def damage_manifest(entry: Path) -> None:
    (entry / wc.MANIFEST).write_text('{"format": 1, "params": [')


def damage_missing_file(entry: Path) -> None:
    (entry / "00001.npy").unlink()


def damage_reshape(entry: Path) -> None:
    f = entry / "00000.npy"
    np.save(f, np.load(f).reshape(-1))    # a valid file of the wrong shape


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip_a_value, damage_manifest,
                                    damage_missing_file, damage_reshape])
def test_a_damaged_entry_is_drawn_again_and_replaced(tmp_path, resnet18, damage):
    want = make_weights(resnet18, 0)
    wc.load_weights(resnet18, 0, tmp_path)
    damage(the_entry(tmp_path))
    again = wc.load_weights(resnet18, 0, tmp_path)
    assert again.source == "drawn+stored"
    assert_bit_identical(again.arrays, want)
    assert wc.load_weights(resnet18, 0, tmp_path).source == "cache"   # repaired in place
    assert len(list(tmp_path.iterdir())) == 1


def test_a_race_lost_to_another_writer_keeps_the_winners_entry(tmp_path, resnet18):
    arrays = make_weights(resnet18, 0)
    name = wc.entry_name(resnet18, 0)
    assert wc.write_entry(tmp_path, name, arrays, 0)
    winner = (tmp_path / name / wc.MANIFEST).stat().st_ino
    assert wc.write_entry(tmp_path, name, arrays, 0)          # the loser: no error, no mess
    assert (tmp_path / name / wc.MANIFEST).stat().st_ino == winner
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_an_unwritable_cache_only_costs_the_drawing(tmp_path, resnet18):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    got = wc.load_weights(resnet18, 0, blocked / "weights")
    assert got.source == "drawn"
    assert_bit_identical(got.arrays, make_weights(resnet18, 0))


def test_where_the_cache_lives(tmp_path, monkeypatch):
    monkeypatch.delenv(wc.CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wc.cache_dir({}) == tmp_path / ".cache" / "dlbench" / "weights"
    assert wc.cache_dir({"weights_dir": "/run/w"}) == Path("/run/w")
    monkeypatch.setenv(wc.CACHE_ENV, str(tmp_path / "c"))
    assert wc.cache_dir(None) == tmp_path / "c" / "weights"
    assert wc.cache_dir({"weights_dir": "/run/w"}) == Path("/run/w")
    monkeypatch.setenv(wc.CACHE_ENV, "off")
    assert wc.cache_dir({"weights_dir": "/run/w"}) is None


# ---------------------------------------------------------------- through a real worker

def worker_points(specs, settings, env) -> list[dict]:
    """Measure `specs` in one fresh `python -m suite.worker`; its measurement records."""
    init = {"framework": specs[0].framework, "threads": 1, "interop_threads": 1}
    lines = [json.dumps(init)] + [json.dumps({"point": {"spec": s.to_dict(),
                                                        "settings": settings}}) for s in specs]
    out = subprocess.run([sys.executable, "-m", "suite.worker"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, env=env, timeout=300)
    msgs = [json.loads(line) for line in out.stdout.splitlines()]
    assert msgs, out.stderr[-2000:]
    if not msgs[0]["ready"]["ok"]:
        skip_or_fail(specs[0].framework, msgs[0]["ready"]["reason"])
    return [m["measurement"] for m in msgs[1:]]


@pytest.mark.slow
def test_workers_share_the_cache_and_record_their_set_up_time(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (wc.CACHE_ENV, "DLBENCH_FAULT")}
    settings = {"loop": {"precision": 0.02, "min_time_s": 0.05, "max_time_s": 0.2,
                         "warmup_max_s": 0.3},
                "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "seed": 0,
                "weights_dir": str(tmp_path / "w")}
    a = PointSpec("infer", "pytorch", "none", "resnet18", 1, 32, threads=1)
    b = PointSpec("infer", "pytorch", "none", "resnet18", 2, 32, threads=1)
    first, second = worker_points([a, b], settings, env)
    (again,) = worker_points([a], settings, env)
    for m in (first, second, again):
        assert m["status"] == "ok", m["message"]
    assert first["meta"]["setup"]["weights_source"] == "drawn+stored"
    assert second["meta"]["setup"]["weights_source"] == "cache"
    assert again["meta"]["setup"]["weights_source"] == "cache"
    assert len(list((tmp_path / "w").iterdir())) == 1
    # the worker's first point counts the process's start (interpreter, imports), a later
    # point only its own set-up; every part lies inside the whole
    s1, s2 = first["meta"], second["meta"]
    assert s1["setup"]["ready_s"] > 0.1 and "ready_s" not in s2["setup"]
    assert s1["setup_s"] > s1["setup"]["ready_s"] + s1["setup"]["warmup_s"]
    assert s1["setup_s"] > s2["setup_s"] > s2["setup"]["warmup_s"] > 0
    off = dict(env, **{wc.CACHE_ENV: "off"})
    (uncached,) = worker_points([a], settings, off)
    assert uncached["meta"]["setup"]["weights_source"] == "drawn"
