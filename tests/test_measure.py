"""The adaptive measurement loop, driven by a fake clock."""
import pytest

from suite.measure import LoopSettings, run_loop
from suite.timing import FakeTimer


def counting_step():
    calls = []
    return calls, (lambda: calls.append(1))


def test_cold_start_and_warmup_are_excluded_from_samples():
    # cold start 500 ms, two slow warm-up steps, then a steady 10 ms
    durations = [500_000_000, 80_000_000, 40_000_000] + [10_000_000] * 10_000
    calls, step = counting_step()
    r = run_loop(step, FakeTimer(durations), 4, LoopSettings(min_time_s=0.5, max_time_s=5))
    assert r.cold_start_ns == 500_000_000
    assert r.warmup_steady
    assert max(r.samples_ns) == 10_000_000           # no warm-up sample leaked in
    assert r.precision_reached and r.stop_reason == "precision"
    assert sum(r.samples_ns) >= 0.5e9                 # min time honoured
    assert len(calls) == 1 + r.warmup_iterations + len(r.samples_ns)


def test_noisy_steps_stop_at_max_time_without_precision():
    durations = [1_000_000, 50_000_000, 3_000_000, 90_000_000, 7_000_000]
    _, step = counting_step()
    r = run_loop(step, FakeTimer(durations), 1,
                 LoopSettings(precision=0.001, min_time_s=0.1, max_time_s=1.0))
    assert r.stop_reason == "max-time" and not r.precision_reached
    assert sum(r.samples_ns) <= 1.0e9 + 90_000_000


def test_training_stops_after_one_pass_over_samples():
    durations = [1_000_000, 1_300_000, 700_000, 2_000_000]
    _, step = counting_step()
    r = run_loop(step, FakeTimer(durations), 10,
                 LoopSettings(precision=1e-6, min_time_s=100, max_time_s=100, max_items=200))
    assert r.stop_reason == "samples"
    assert len(r.samples_ns) * 10 == 200


def test_min_iterations_respected_even_when_precise():
    _, step = counting_step()
    r = run_loop(step, FakeTimer([5_000_000]), 1,
                 LoopSettings(min_time_s=0.001, max_time_s=10, min_iterations=25))
    assert len(r.samples_ns) >= 25


def test_step_exception_propagates():
    def boom():
        raise RuntimeError("kaput")
    with pytest.raises(RuntimeError, match="kaput"):
        run_loop(boom, FakeTimer([1]), 1, LoopSettings())


def test_min_iterations_win_over_max_time():
    _, step = counting_step()
    r = run_loop(step, FakeTimer([200_000_000]), 1,
                 LoopSettings(min_time_s=0.01, max_time_s=0.3, min_iterations=10))
    assert len(r.samples_ns) == 10 and r.stop_reason == "max-time"
