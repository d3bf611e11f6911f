"""The report's Energy section and the energy columns of points.csv."""
from __future__ import annotations

from suite.energy import energy_record
from suite.report.energy import energy_blocks
from suite.report.frames import measurements_frame
from suite.report.page import Bullets, Table
from suite.spec import Measurement, PointSpec


def _point(batch: int, energy: dict | None) -> Measurement:
    spec = PointSpec("infer", "pytorch", "none", "resnet18", batch, 32, device="cuda")
    return Measurement(spec, samples_ns=[10_000_000] * 40, items_per_step=batch,
                       flops_per_item=1e9, precision_reached=True, energy=energy)


def test_measured_points_get_joules_per_item_and_watts():
    record = energy_record("nvml_counter", "NVML GPU 0", joules=120.0, seconds=2.0,
                           items=400, idle_watts=20.0, idle_seconds=0.5, update_s=0.1)
    frame = measurements_frame([_point(4, record), _point(8, None)])
    assert frame.loc[0, "joules_per_item"] == 0.3 and frame.loc[0, "avg_watts"] == 60.0
    assert frame.loc[0, "net_joules_per_item"] == (120.0 - 20.0 * 2.0) / 400
    assert frame.loc[1, "energy_method"] == "not recorded"
    blocks = energy_blocks(frame)
    table = next(b for b in blocks if isinstance(b, Table)).frame
    assert list(table["batch"]) == [4]                        # the unmeasured point is left out
    assert list(table["J/item"]) == ["0.3"] and list(table["net J/item"]) == ["0.2"]
    assert "NVML's total-energy counter" in blocks[1].items[0]


def test_without_a_meter_the_section_says_why_in_one_line():
    record = energy_record("unavailable", "", None, 0.0, 0,
                           reason="no readable RAPL counters under /sys/class/powercap")
    blocks = energy_blocks(measurements_frame([_point(4, record)]))
    bullets = [b for b in blocks if isinstance(b, Bullets)]
    assert len(bullets) == 1 and not any(isinstance(b, Table) for b in blocks)
    assert bullets[0].items == ["not measured (unavailable): no readable RAPL counters "
                                "under /sys/class/powercap"]
