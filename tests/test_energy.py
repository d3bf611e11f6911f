"""Energy per point (suite.energy): RAPL over a fake powercap tree, NVML's counter through a
fake native call, the stored record, the loop's readings and the worker's production path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_fakes import SETTINGS, FakeCuda, FakeRunnable, gpu_spec
from suite import _native, energy, worker
from suite.measure import LoopSettings, run_loop
from suite.spec import Measurement, PointSpec
from suite.timing import FakeTimer

RANGE_UJ = 262_143_328_850


def zone(root: Path, name: str, label: str, energy_uj: int | None,
         range_uj: int | None = RANGE_UJ) -> Path:
    """One powercap zone directory; `energy_uj` None leaves the counter out."""
    path = root / name
    path.mkdir(parents=True)
    (path / "name").write_text(label + "\n")
    if energy_uj is not None:
        (path / "energy_uj").write_text(f"{energy_uj}\n")
    if range_uj is not None:
        (path / "max_energy_range_uj").write_text(f"{range_uj}\n")
    return path


def write_uj(path: Path, value: int) -> None:
    (path / "energy_uj").write_text(f"{value}\n")


@pytest.fixture
def powercap(tmp_path: Path) -> dict[str, Path]:
    """Two packages, their core/dram subzones (big counters: counting them would show) and
    a psys zone, which contains the packages."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)        # the control type: no counter
    zones = {"root": root,
             "pkg0": zone(root, "intel-rapl:0", "package-0", 1_000_000),
             "pkg1": zone(root, "intel-rapl:1", "package-1", 5_000_000),
             "psys": zone(root, "intel-rapl:2", "psys", 9_000_000_000)}
    for pkg in (0, 1):
        for sub, label in ((0, "core"), (1, "dram")):
            zones[f"sub{pkg}{sub}"] = zone(root, f"intel-rapl:{pkg}:{sub}", label, 7_000_000_000)
    return zones


# ---------------------------------------------------------------- RAPL

def test_rapl_counts_the_packages_only(powercap):
    meter = energy.open_meter("cpu", powercap_root=powercap["root"])
    assert meter.method == "rapl" and meter.available and meter.reason == ""
    assert "intel-rapl:0 (package-0)" in meter.source and "intel-rapl:1" in meter.source
    assert "intel-rapl:0:0" not in meter.source
    assert "not counted: intel-rapl:2 (psys)" in meter.source
    assert meter.joules() == 0.0
    write_uj(powercap["pkg0"], 3_000_000)         # +2 J
    write_uj(powercap["pkg1"], 6_500_000)         # +1.5 J
    for key in ("sub00", "sub01", "sub10", "sub11", "psys"):
        write_uj(powercap[key], 9_900_000_000)    # must not count
    assert meter.joules() == pytest.approx(3.5)


def test_rapl_adds_the_range_when_a_counter_wraps(powercap):
    write_uj(powercap["pkg0"], RANGE_UJ - 1_000_000)          # 1 J before the wrap
    meter = energy.open_meter("cpu", powercap_root=powercap["root"])
    write_uj(powercap["pkg0"], 500_000)                       # wrapped: 1.5 J later
    write_uj(powercap["pkg1"], 5_250_000)
    assert meter.joules() == pytest.approx(1.5 + 0.25)
    write_uj(powercap["pkg0"], 2_500_000)                     # no wrap: +2 J
    assert meter.joules() == pytest.approx(3.75)


def test_unwrapped_delta():
    assert energy.unwrapped_delta_uj(10, 25, 100) == 15
    assert energy.unwrapped_delta_uj(90, 5, 100) == 15


@pytest.mark.parametrize("how", ["missing", "unreadable"])
def test_an_unreadable_package_counter_makes_rapl_unavailable(powercap, how):
    counter = powercap["pkg1"] / "energy_uj"
    counter.unlink()
    if how == "unreadable":      # a directory: read_text fails even as root
        counter.mkdir()
    meter = energy.open_meter("cpu", powercap_root=powercap["root"])
    assert meter.method == "unavailable" and not meter.available
    assert meter.reason.startswith(f"no readable RAPL counters under {powercap['root']} "
                                   "(energy_uj missing or not readable)")
    assert "intel-rapl:1" in meter.reason
    assert meter.joules() is None


def test_no_powercap_tree_is_unavailable(tmp_path):
    meter = energy.open_meter("cpu", powercap_root=tmp_path / "absent")
    assert meter.method == "unavailable"
    assert meter.reason == (f"no readable RAPL counters under {tmp_path / 'absent'} "
                            "(energy_uj missing or not readable)")


def test_a_missing_range_is_unavailable_not_a_silent_wrap(powercap):
    (powercap["pkg0"] / "max_energy_range_uj").unlink()
    meter = energy.open_meter("cpu", powercap_root=powercap["root"])
    assert meter.method == "unavailable" and "wrap-around" in meter.reason


def test_a_counter_that_fails_after_opening_reads_as_none(powercap):
    meter = energy.open_meter("cpu", powercap_root=powercap["root"])
    (powercap["pkg0"] / "energy_uj").unlink()
    assert meter.joules() is None


# ---------------------------------------------------------------- NVML

class FakeNvmlCounter:
    """`_native.nvml_total_energy_mj`: advances `step_mj` per read (or per `advance`)."""

    def __init__(self, start_mj: int = 1_000_000, step_mj: int = 0) -> None:
        self.mj = start_mj
        self.step_mj = step_mj
        self.devices: list[int] = []

    def __call__(self, device: int = 0) -> tuple[int, str]:
        self.devices.append(device)
        value = self.mj
        self.mj += self.step_mj
        return value, ""


def test_nvml_meter_reads_millijoules_since_it_opened(monkeypatch):
    counter = FakeNvmlCounter(start_mj=5_000_000, step_mj=250)
    monkeypatch.setattr(_native, "nvml_total_energy_mj", counter)
    meter = energy.open_meter("cuda", device_index=1)
    assert meter.method == "nvml_counter" and meter.available
    assert meter.update_s == energy.NVML_UPDATE_S
    assert "CUDA device 1" in meter.source and "NVML" in meter.source
    assert meter.joules() == pytest.approx(0.25)
    assert meter.joules() == pytest.approx(0.5)
    assert set(counter.devices) == {1}


def test_nvml_without_the_counter_is_unavailable_with_its_reason(monkeypatch):
    reason = "nvmlDeviceGetTotalEnergyConsumption failed: Not Supported (NVML error 3)"
    monkeypatch.setattr(_native, "nvml_total_energy_mj", lambda device=0: (-1, reason))
    meter = energy.open_meter("cuda")
    assert meter.method == "unavailable" and meter.reason == reason


def test_this_machine_without_nvml_is_unavailable():
    if _native.nvml_unavailable_reason() == "" and _native.cuda_available():
        pytest.skip("NVML and CUDA are available here")
    meter = energy.open_meter("cuda")
    assert meter.method == "unavailable" and meter.reason
    assert _native.nvml_total_energy_mj(0)[0] == -1


# ---------------------------------------------------------------- idle baseline

class StepMeter:
    """A meter whose joules grow by `joules_per_call` per `tick()` (or per read)."""

    method, source, reason, update_s, available = "rapl", "fake", "", 0.001, True

    def __init__(self, per_read: float = 0.0) -> None:
        self.total = 0.0
        self.per_read = per_read
        self.reads = 0

    def tick(self, joules: float = 1.0) -> None:
        self.total += joules

    def joules(self) -> float | None:
        self.reads += 1
        value = self.total
        self.total += self.per_read
        return value


def fake_clock(times: list[float]):
    it = iter(times)
    return lambda: next(it)


def test_idle_baseline_is_joules_over_the_sleep():
    meter = StepMeter(per_read=3.0)          # 3 J between the two reads
    slept = []
    idle = energy.idle_baseline(meter, 0.5, sleep=slept.append, clock=fake_clock([10.0, 10.6]))
    assert slept == [0.5]
    assert idle.watts == pytest.approx(5.0) and idle.seconds == pytest.approx(0.6)
    assert idle.note == ""


def test_idle_baseline_of_a_counter_that_did_not_move_is_no_figure():
    meter = StepMeter()
    meter.update_s = 0.1
    idle = energy.idle_baseline(meter, 0.02, sleep=lambda s: None, clock=fake_clock([0, 0.02]))
    assert idle.watts is None and "did not advance" in idle.note


def test_idle_baseline_costs_nothing_without_a_meter():
    slept = []
    idle = energy.idle_baseline(energy.UnavailableMeter("none here"), 0.5, sleep=slept.append)
    assert idle.watts is None and slept == []


# ---------------------------------------------------------------- the record

def test_record_total_and_net_of_idle():
    rec = energy.energy_record("nvml_counter", "GPU", joules=600.0, seconds=2.0, items=300,
                               idle_watts=100.0, idle_seconds=0.5, update_s=0.05)
    assert rec["method"] == "nvml_counter" and rec["precise"] and rec["note"] == ""
    assert rec["avg_watts"] == pytest.approx(300.0)
    assert rec["joules_per_item"] == pytest.approx(2.0)
    assert rec["net_joules"] == pytest.approx(400.0)
    assert rec["net_avg_watts"] == pytest.approx(200.0)
    assert rec["net_joules_per_item"] == pytest.approx(400.0 / 300)
    assert rec["idle_watts"] == 100.0 and rec["idle_seconds"] == 0.5
    json.dumps(rec, allow_nan=False)


def test_record_of_a_counter_that_did_not_advance_has_no_figure():
    rec = energy.energy_record("nvml_counter", "GPU", joules=0.0, seconds=0.02, items=8,
                               idle_watts=50.0, update_s=0.05)
    assert rec["method"] == "nvml_counter" and not rec["precise"]
    for key in ("joules", "avg_watts", "joules_per_item", "net_joules", "net_joules_per_item"):
        assert rec[key] is None, key
    assert "did not advance" in rec["note"]


def test_record_below_the_idle_baseline_keeps_the_total_but_no_net():
    rec = energy.energy_record("rapl", "CPU", joules=90.0, seconds=1.0, items=10,
                               idle_watts=100.0, update_s=0.001)
    assert rec["joules_per_item"] == pytest.approx(9.0)
    assert rec["net_joules"] is None and rec["net_joules_per_item"] is None
    assert "less than the idle baseline" in rec["note"] and "-10 J" in rec["note"]


def test_record_of_a_short_region_is_marked_imprecise():
    rec = energy.energy_record("nvml_counter", "GPU", joules=12.0, seconds=0.2, items=4,
                               idle_watts=None, update_s=0.05)
    assert rec["joules"] == 12.0 and not rec["precise"]
    assert "imprecise" in rec["note"] and "no idle baseline" in rec["note"]


def test_record_unavailable_carries_the_reason_and_no_figures():
    meter = energy.UnavailableMeter("no readable RAPL counters", "CPU packages (RAPL)")
    rec = energy.point_energy(meter, None, 0.0, 80, None)
    assert rec["method"] == "unavailable" and rec["reason"] == "no readable RAPL counters"
    assert rec["joules"] is None and rec["joules_per_item"] is None


def test_record_of_a_meter_that_failed_mid_loop_is_unavailable():
    rec = energy.point_energy(StepMeter(), None, 1.0, 80, None)
    assert rec["method"] == "unavailable" and "could not be read" in rec["reason"]


# ---------------------------------------------------------------- the loop

def test_loop_counts_energy_over_the_timed_blocks_only():
    meter = StepMeter()

    def step():
        meter.tick(2.0)                  # every step draws 2 J

    durations = [900_000_000, 50_000_000] + [10_000_000] * 10_000   # cold, slow, steady
    r = run_loop(step, FakeTimer(durations), 4, LoopSettings(min_time_s=0.2, max_time_s=2),
                 meter=meter)
    assert r.warmup_iterations > 0
    assert r.energy_joules == pytest.approx(2.0 * len(r.samples_ns))    # no cold/warm-up
    assert r.energy_seconds == pytest.approx(sum(r.samples_ns) / 1e9)
    assert meter.reads == 2


def test_loop_without_a_meter_records_no_energy():
    r = run_loop(lambda: None, FakeTimer([1_000_000]), 1,
                 LoopSettings(min_time_s=0.01, max_time_s=0.1))
    assert r.energy_joules is None and r.energy_seconds == 0.0


# ---------------------------------------------------------------- the worker

CPU_SPEC = PointSpec("infer", "pytorch", "none", "resnet18", 8, 32, device="cpu")


def run_point(monkeypatch, runnable, spec: PointSpec, **settings):
    """A point through the worker's production path, the build replaced by `runnable`."""
    monkeypatch.setattr(worker, "build_runnable", lambda adapter, model, spec, cfg, **kw: runnable)
    return worker.run_point(adapter=None, spec=spec, settings=dict(SETTINGS, **settings))


def test_a_cpu_point_on_this_machine_records_why_there_is_no_energy(monkeypatch):
    here = energy.open_meter("cpu")
    if here.available:
        pytest.skip(f"this machine has readable RAPL counters ({here.source})")
    m = run_point(monkeypatch, FakeRunnable(stream=None), CPU_SPEC)
    assert m.status == "ok", m.message
    assert m.energy is not None and m.energy["method"] == "unavailable"
    assert m.energy["reason"] == here.reason and "RAPL" in m.energy["reason"]
    assert m.energy["joules_per_item"] is None
    back = Measurement.from_record(json.loads(json.dumps(m.to_record(), allow_nan=False)))
    assert back.energy == m.energy


class CountingRunnable(FakeRunnable):
    """Each step adds `uj` microjoules to a fake RAPL package counter."""

    def __init__(self, counter: Path, uj: int) -> None:
        super().__init__(stream=None)
        self.counter, self.uj, self.value = counter, uj, 0

    def step(self) -> None:
        super().step()
        self.value += self.uj
        self.counter.write_text(f"{self.value}\n")


def test_a_cpu_point_with_rapl_records_joules_per_item(monkeypatch, tmp_path):
    root = tmp_path / "powercap"
    package = zone(root, "intel-rapl:0", "package-0", 0)
    real_open = energy.open_meter
    monkeypatch.setattr(energy, "open_meter",
                        lambda device, device_index=0: real_open(device, device_index, root))
    runnable = CountingRunnable(package / "energy_uj", uj=1000)
    m = run_point(monkeypatch, runnable, CPU_SPEC, energy_idle_s=0.01)
    assert m.status == "ok", m.message
    rec = m.energy
    steps = len(m.samples_ns)
    assert rec["method"] == "rapl" and rec["items"] == steps * 8
    assert rec["joules"] == pytest.approx(steps * 0.001)                # timed steps only
    assert rec["joules_per_item"] == pytest.approx(0.001 / 8)
    assert rec["idle_watts"] is None and "did not advance" in rec["note"]   # idle: no steps
    assert rec["net_joules"] is None


def test_a_cuda_point_records_the_nvml_counter(monkeypatch):
    FakeCuda().install(monkeypatch)
    counter = FakeNvmlCounter(start_mj=0)
    runnable = FakeRunnable(stream=0x5EED)
    original_step = runnable.step

    def step() -> None:
        original_step()
        counter.mj += 40                        # 40 mJ per step
    runnable.step = step
    monkeypatch.setattr(_native, "nvml_total_energy_mj", counter)
    m = run_point(monkeypatch, runnable, gpu_spec(batch=8), energy_idle_s=0.01)
    assert m.status == "ok", m.message
    rec = m.energy
    assert rec["method"] == "nvml_counter" and "CUDA device 0" in rec["source"]
    assert rec["joules"] == pytest.approx(0.04 * len(m.samples_ns))
    assert rec["joules_per_item"] == pytest.approx(0.005)
    assert not rec["precise"] and "imprecise" in rec["note"]   # a fake loop of ~0.05 s


def test_energy_idle_s_zero_turns_the_baseline_off(monkeypatch):
    FakeCuda().install(monkeypatch)
    monkeypatch.setattr(_native, "nvml_total_energy_mj", FakeNvmlCounter(step_mj=100))
    baselines = []
    monkeypatch.setattr(energy, "idle_baseline", lambda *a, **k: baselines.append(a))
    m = run_point(monkeypatch, FakeRunnable(stream=0x5EED), gpu_spec(), energy_idle_s=0)
    assert m.energy["method"] == "nvml_counter" and baselines == []
    assert m.energy["idle_watts"] is None and "energy_idle_s = 0" in m.energy["note"]


def test_old_records_without_energy_still_load():
    rec = Measurement(spec=CPU_SPEC).to_record()
    del rec["energy"]
    assert Measurement.from_record(rec).energy is None


def test_processes_combine_into_one_record():
    parts = [energy.energy_record("rapl", "CPU", 30.0, 1.0, 100, 10.0, 0.5, 0.001),
             energy.energy_record("rapl", "CPU", 50.0, 2.0, 200, 20.0, 1.5, 0.001)]
    rec = energy.combine_energy(parts)
    assert rec["joules"] == 80.0 and rec["seconds"] == 3.0 and rec["items"] == 300
    assert rec["idle_watts"] == pytest.approx((10 * 0.5 + 20 * 1.5) / 2.0)
    assert rec["net_joules"] == pytest.approx(80.0 - 17.5 * 3.0)
    assert rec["precise"]
    unavailable = energy.point_energy(energy.UnavailableMeter("none"), None, 0.0, 8, None)
    assert energy.combine_energy([unavailable, unavailable]) == unavailable
    assert energy.combine_energy([None, None]) is None
