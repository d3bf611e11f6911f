"""suite.peak_cache: one disturbed peak probe cannot halve a run's peak (issue 21 item 1)."""
import json

import pytest

from suite import peak, peak_cache

HOST = {"cpu_model": "Test CPU", "logical_cpus": 2, "governor": None, "turbo": None}
KEYS = {"1": peak_cache.machine_key(HOST, 1, [0])}


def test_a_probe_far_under_the_kept_readings_is_measured_again_and_the_best_counts():
    data = {}
    for reading in (256.0, 258.0, 285.0):
        peak_cache.reconcile({"1": reading}, KEYS, data, lambda t: pytest.fail("no recheck"))
    asked = []
    fields = peak_cache.reconcile({"1": 116.0}, KEYS, data,
                                  lambda t: asked.append(t) or 120.0)
    assert asked == [1]
    assert fields["gflops_by_threads"] == {"1": 285.0}       # not 116: the machine's limit
    assert fields["probe_gflops_by_threads"] == {"1": [116.0, 120.0]}
    assert fields["readings_by_threads"]["1"] == [256.0, 258.0, 285.0, 120.0]
    assert fields["spread_by_threads"]["1"] == pytest.approx(285 / 120 - 1, abs=1e-4)
    (warning,) = fields["warnings"]
    assert "116.0 and 120.0 GFLOP/s" in warning and "divides by 285.0" in warning


def test_a_recheck_that_recovers_is_no_warning_and_a_new_best_is_believed():
    data = {}
    peak_cache.reconcile({"1": 250.0}, KEYS, data, lambda t: None)
    fields = peak_cache.reconcile({"1": 150.0}, KEYS, data, lambda t: 248.0)
    assert fields["gflops_by_threads"] == {"1": 250.0} and fields["warnings"] == []
    fields = peak_cache.reconcile({"1": 300.0}, KEYS, data, lambda t: pytest.fail("no"))
    assert fields["gflops_by_threads"] == {"1": 300.0}


def test_only_the_last_readings_are_kept_so_a_slower_machine_is_believed_in_the_end():
    data = {}
    peak_cache.reconcile({"1": 300.0}, KEYS, data, lambda t: None)
    for _ in range(peak_cache.KEEP + 1):   # the old best leaves after KEEP newer readings
        fields = peak_cache.reconcile({"1": 200.0}, KEYS, data, lambda t: 200.0)
    assert fields["gflops_by_threads"] == {"1": 200.0}
    assert len(fields["readings_by_threads"]["1"]) == peak_cache.KEEP


def test_the_key_separates_machines_cores_and_thread_counts():
    other = dict(HOST, cpu_model="Other CPU")
    assert len({peak_cache.machine_key(HOST, 1, [0]), peak_cache.machine_key(other, 1, [0]),
                peak_cache.machine_key(HOST, 1, [1]), peak_cache.machine_key(HOST, 2, [0, 1]),
                peak_cache.machine_key(dict(HOST, turbo=False), 1, [0])}) == 5


def test_measure_peak_remembers_across_runs_and_warns(monkeypatch, tmp_path):
    monkeypatch.delenv(peak.REUSE_ENV, raising=False)
    monkeypatch.setenv("DLBENCH_CACHE", str(tmp_path))
    readings = iter([{"threads": 1, "gflops": 256.0, "blas_gflops": 100.0, "isa": "avx2"},
                     {"threads": 1, "gflops": 116.0, "blas_gflops": 50.0, "isa": "avx2"},
                     {"threads": 1, "gflops": 110.0, "blas_gflops": 50.0, "isa": "avx2"}])
    monkeypatch.setattr(peak, "measure_one", lambda *a, **k: next(readings))
    first = peak.measure_peak([1], lambda t: [0])
    assert first["gflops_by_threads"] == {"1": 256.0} and "warnings" not in first
    second = peak.measure_peak([1], lambda t: [0])
    assert second["gflops_by_threads"] == {"1": 256.0}
    assert second["probe_gflops_by_threads"] == {"1": [116.0, 110.0]}
    assert peak.peak_warnings(second)[0].startswith("warning: the peak probe at 1 thread(s)")
    assert "last 12 readings" in second["method"]
    stored = json.loads((tmp_path / "peak.json").read_text())
    assert [v["readings"] for v in stored.values()] == [[256.0, 116.0]]


def test_with_the_cache_off_or_broken_the_probe_alone_counts(monkeypatch, tmp_path):
    monkeypatch.delenv(peak.REUSE_ENV, raising=False)
    monkeypatch.setattr(peak, "measure_one", lambda *a, **k: {"threads": 1, "gflops": 99.0,
                                                             "isa": "avx2"})
    monkeypatch.setenv("DLBENCH_CACHE", "off")
    assert peak.measure_peak([1], lambda t: [0])["gflops_by_threads"] == {"1": 99.0}
    monkeypatch.setenv("DLBENCH_CACHE", str(tmp_path))
    (tmp_path / "peak.json").write_text("{not json")
    assert peak.measure_peak([1], lambda t: [0])["gflops_by_threads"] == {"1": 99.0}


def test_a_reused_peak_is_the_kept_best_and_probes_nothing_unless_none_is_kept(
        monkeypatch, tmp_path):
    monkeypatch.setenv("DLBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv(peak.REUSE_ENV, peak.REUSE_VALUE)
    probes = []
    monkeypatch.setattr(peak, "measure_one", lambda t, *a, **k: probes.append(t) or
                        {"threads": t, "gflops": 100.0 * t, "isa": "avx2"})
    first = peak.measure_peak([1, 2], lambda t: list(range(t)))    # nothing kept: probes
    assert probes == [1, 2] and first["gflops_by_threads"] == {"1": 100.0, "2": 200.0}
    again = peak.measure_peak([2, 1], lambda t: list(range(t)))
    assert probes == [1, 2] and again["gflops_by_threads"] == {"1": 100.0, "2": 200.0}
    assert "not measured in this run" in again["method"]
    peak.measure_peak([1, 4], lambda t: list(range(t)))           # 4 never kept: probes all
    assert probes == [1, 2, 1, 4]
