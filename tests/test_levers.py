"""suite.levers: the process-level levers a worker is started with, checked in real children."""
import ctypes
import json
import os
import subprocess
import sys

import pytest

from suite import levers
from suite.errors import UsageError

PROBE = ("import json; from suite.levers import applied; "
         "print(json.dumps(dict(applied(), hash=hash('dlbench'), "
         "heap=[l.split('-')[0] for l in open('/proc/self/maps') if '[heap]' in l])))")


def child(chosen) -> dict:
    """What a Python child started with `chosen` levers reports about itself."""
    env_add, pre = levers.worker_launch(chosen)
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)
    env.update(env_add)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, preexec_fn=pre,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_no_lever_adds_nothing_and_the_defaults_are_the_flagged_ones():
    assert levers.worker_launch(()) == ({}, None)
    assert levers.default_levers() == tuple(x for x in levers.LEVERS if x.default)
    env, pre = levers.worker_launch(None)
    assert env == levers.lever_env(levers.default_levers(),
                                   os.environ.get(levers.TUNABLES_ENV))
    assert (pre is None) == all(not x.personality and not x.thp_disable
                                for x in levers.default_levers())


def test_levers_by_name_keeps_the_table_order_and_refuses_unknown_names():
    chosen = levers.levers_by_name(["hashseed", "aslr_off"])
    assert [x.name for x in chosen] == ["aslr_off", "hashseed"]
    with pytest.raises(UsageError, match="unknown lever.*nope"):
        levers.levers_by_name(["aslr_off", "nope"])
    assert len(set(levers.LEVER_NAMES)) == len(levers.LEVERS)


def test_glibc_tunables_are_joined_and_the_users_own_come_last():
    chosen = levers.levers_by_name(["thp_malloc", "arena_one"])
    env = levers.lever_env(chosen, inherited="glibc.malloc.tcache_count=0")
    assert env == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:"
                                     "glibc.malloc.tcache_count=0"}
    static = levers.lever_env(levers.levers_by_name(["malloc_static"]))
    assert static == {"MALLOC_MMAP_THRESHOLD_": str(32 << 20),
                      "MALLOC_TRIM_THRESHOLD_": str(32 << 20)}


def test_a_child_without_levers_is_randomised():
    a, b = child(()), child(())
    assert a["aslr"] is True and a["hashseed"] is None
    assert a["heap"] != b["heap"] or a["hash"] != b["hash"]   # both equal: 1 in 2^40


def kernel_allows_aslr_off() -> bool:
    """Whether this kernel / seccomp profile lets a child turn ASLR off (checked without
    suite.levers, so that a broken lever fails instead of skipping)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = subprocess.run(["cat", "/proc/self/personality"], capture_output=True, text=True,
                         preexec_fn=lambda: libc.personality(levers.ADDR_NO_RANDOMIZE))
    return bool(int(out.stdout, 16) & levers.ADDR_NO_RANDOMIZE)


def test_aslr_off_gives_every_child_the_same_layout():
    if not kernel_allows_aslr_off():
        pytest.skip("personality(ADDR_NO_RANDOMIZE) refused here (seccomp)")
    chosen = levers.levers_by_name(["aslr_off"])
    a, b = child(chosen), child(chosen)
    assert a["aslr"] is False and b["aslr"] is False
    assert a["heap"] and a["heap"] == b["heap"]


def test_hashseed_fixes_str_hashes_across_children():
    chosen = levers.levers_by_name(["hashseed"])
    a, b = child(chosen), child(chosen)
    assert a["hashseed"] == "0" and a["hash"] == b["hash"]


def test_thp_off_reaches_the_child_and_tunables_are_in_its_environment(monkeypatch):
    chosen = levers.levers_by_name(["thp_off", "thp_malloc"])
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=7")   # the user's own
    got = child(chosen)
    if got["thp_enabled"] is None:
        pytest.skip("no THP_enabled line in /proc/self/status (kernel < 5.0)")
    assert got["thp_enabled"] is False
    assert got["glibc_tunables"] == "glibc.malloc.hugetlb=1:glibc.malloc.tcache_count=7"
    monkeypatch.delenv("GLIBC_TUNABLES")
    assert child(())["thp_enabled"] is True


def test_system_memory_settings_read_the_bracketed_choice(tmp_path, monkeypatch):
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    (tmp_path / "defrag").write_text("[always] defer defer+madvise madvise never\n")
    monkeypatch.setattr(levers, "THP_DIR", tmp_path)
    found = levers.system_memory_settings()
    assert found["thp_enabled"] == "madvise" and found["thp_defrag"] == "always"
    monkeypatch.setattr(levers, "THP_DIR", tmp_path / "absent")
    assert levers.system_memory_settings()["thp_enabled"] is None
