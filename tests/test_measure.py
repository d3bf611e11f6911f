"""The adaptive measurement loop, driven by a fake clock."""
import numpy as np
import pytest

from suite import stats
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
    r = run_loop(step, FakeTimer([200_000_000, 100_000_000]), 1,
                 LoopSettings(min_time_s=0.01, max_time_s=0.3, min_iterations=10))
    assert len(r.samples_ns) == 10 and r.stop_reason == "max-time"


def speeding_up(calls: int = 20, slow_ms: float = 20.0, fast_ms: float = 10.0) -> list[int]:
    """A cold start, then steps that get faster over their first `calls` calls (from
    `slow_ms` to `fast_ms`, linearly), then a steady `fast_ms`."""
    ramp = [slow_ms - (slow_ms - fast_ms) * k / calls for k in range(calls)]
    return [int(ms * 1e6) for ms in [500.0] + ramp] + [int(fast_ms * 1e6)] * 100_000


def test_warmup_does_not_end_before_the_speed_up_is_over():
    """Two single steps 2.5% apart are not "steady": windows of at least 5 steps are."""
    _, step = counting_step()
    r = run_loop(step, FakeTimer(speeding_up()), 1, LoopSettings(min_time_s=0.2, max_time_s=2))
    assert r.warmup_steady
    assert r.warmup_iterations >= 20                     # the whole ramp is warm-up
    assert set(r.samples_ns) == {10_000_000}             # no ramp step is timed


def test_training_warm_up_runs_its_minimum_steps():
    """Steady from the first window, a training point still warms up for its minimum."""
    _, step = counting_step()
    r = run_loop(step, FakeTimer([10_000_000]), 1,
                 LoopSettings(min_time_s=0.1, max_time_s=1, warmup_min_iterations=30))
    assert r.warmup_steady and r.warmup_iterations >= 30


def test_warm_up_windows_last_long_enough_for_fast_steps():
    """Fast steps get windows of at least warmup_window_min_s, not 5 noisy steps."""
    calls, step = counting_step()
    r = run_loop(step, FakeTimer([100_000]), 1,            # 0.1 ms steps
                 LoopSettings(min_time_s=0.01, max_time_s=1, warmup_window_min_s=0.05))
    assert r.warmup_iterations >= 500                     # two windows of 50 ms at least


def test_warm_up_budget_ends_a_warm_up_that_never_settles():
    _, step = counting_step()
    slower = [int(1e6 * 1.2 ** k) for k in range(60)]     # every step 20% slower
    r = run_loop(step, FakeTimer(slower), 1,
                 LoopSettings(min_time_s=0.001, max_time_s=100, warmup_max_s=0.5))
    assert not r.warmup_steady
    assert sum(slower[1:1 + r.warmup_iterations]) < 0.5e9 + slower[r.warmup_iterations]


class DeviceTimer(FakeTimer):
    """Host times noisy (launch jitter), device times steady: decisions use the device's."""

    def run(self, step, iterations, budget_ns=0):
        timed = super().run(step, iterations, budget_ns)
        timed.device_ns = np.full(len(timed.host_ns), 5_000_000, dtype=np.int64)
        return timed


def test_stopping_rule_and_precision_flag_use_device_samples():
    """Host times carry launch jitter that never gets within ±1%; the device's are steady."""
    rng = np.random.default_rng(6)
    noisy_host = [int(5e6 + j) for j in rng.uniform(0, 5e6, 1000)]
    _, step = counting_step()
    r = run_loop(step, DeviceTimer(noisy_host), 1,
                 LoopSettings(precision=0.01, min_time_s=0.1, max_time_s=20))
    assert r.stop_reason == "precision" and r.precision_reached
    assert r.device_samples_ns and set(r.device_samples_ns) == {5_000_000}
    assert len(r.samples_ns) == len(r.device_samples_ns)
    assert not stats.precision_reached(r.samples_ns, 0.01)


def test_stopping_rule_targets_the_throughput_too():
    """A quarter of the steps take twice as long: the median's CI is within ±2% after a few
    steps, but Σ items / Σ time (what the tables show) needs many more; the loop runs
    until both are."""
    rng = np.random.default_rng(5)
    steps = [int(10e6 * (2.0 if u < 0.25 else 1.0) * (1 + 0.005 * g))
             for u, g in zip(rng.random(20_000), rng.standard_normal(20_000))]
    _, step = counting_step()
    r = run_loop(step, FakeTimer(steps), 1,
                 LoopSettings(precision=0.02, min_time_s=0.1, max_time_s=500))
    assert r.stop_reason == "precision" and r.precision_reached
    s = stats.summarize(r.samples_ns, 1)
    throughput_half = max(s.items_per_second_ci_high - s.items_per_second,
                          s.items_per_second - s.items_per_second_ci_low) / s.items_per_second
    assert s.ci_relative_half_width <= 0.02 and throughput_half <= 0.02
    assert len(r.samples_ns) > 500
    assert stats.summarize(steps[50:80], 1).ci_relative_half_width <= 0.02   # the median alone


# --- budget by steps as well as seconds ----------------------------------------------

def alternating_ns(spread: float, base_ms: float = 100.0) -> list[int]:
    """Steps alternating ±spread around base_ms: precise only with many steps."""
    return [int(base_ms * (1 + spread) * 1e6), int(base_ms * (1 - spread) * 1e6)]


NOISY_100MS = [int(ms * 1e6) for ms in (100, 103, 97, 100, 125, 75, 100)]


def test_min_steps_win_over_max_time_until_precise():
    # steps of 100 ms with ±25% outliers: 10 steps (1 s) are too few for ±2%, and the
    # 1 s --max-time would stop there; min_steps lets the point go on until precise
    _, step = counting_step()
    short = run_loop(step, FakeTimer(NOISY_100MS), 1,
                     LoopSettings(min_time_s=0.1, max_time_s=1.0))
    assert short.stop_reason == "max-time" and not short.precision_reached
    longer = run_loop(step, FakeTimer(NOISY_100MS), 1,
                      LoopSettings(min_time_s=0.1, max_time_s=1.0, min_steps=200,
                                   cap_time_s=30.0))
    assert longer.stop_reason == "precision" and longer.precision_reached
    assert 10 < len(longer.samples_ns) < 200


def test_min_steps_stop_at_the_cap():
    # steps too noisy for any precision: min_steps runs past max-time, but not past the cap
    durations = [1_000_000, 50_000_000, 3_000_000, 90_000_000, 7_000_000]
    _, step = counting_step()
    r = run_loop(step, FakeTimer(durations), 1,
                 LoopSettings(precision=0.001, min_time_s=0.1, max_time_s=0.5,
                              min_steps=10_000, cap_time_s=2.0))
    assert r.stop_reason == "time-cap" and not r.precision_reached
    assert 2.0e9 <= sum(r.samples_ns) <= 2.0e9 + 90_000_000


def test_min_steps_reached_then_max_time_stops():
    # enough steps after the extension: the point stops as before, by max-time
    _, step = counting_step()
    r = run_loop(step, FakeTimer([200_000_000, 100_000_000]), 1,
                 LoopSettings(precision=0.001, min_time_s=0.1, max_time_s=1.0, min_steps=20,
                              cap_time_s=100.0))
    assert r.stop_reason == "max-time" and len(r.samples_ns) == 20


def test_min_steps_win_over_the_samples_budget():
    # training: --samples allows 5 steps of batch 10; min_steps asks 30
    _, step = counting_step()
    r = run_loop(step, FakeTimer(alternating_ns(0.2, 10.0)), 10,
                 LoopSettings(precision=1e-6, min_time_s=0.01, max_time_s=100, max_items=50,
                              min_steps=30, cap_time_s=100))
    assert r.stop_reason == "samples" and len(r.samples_ns) == 30


SPREAD_100MS = [int(ms * 1e6) for ms in (100, 102, 98, 101, 99, 103, 97)]


def test_a_precision_within_reach_gets_the_time_up_to_the_cap():
    # ±3% steps: 10 steps (the 1 s budget) leave the CIs just too wide; the steps they
    # need fit under a 30 s cap, so the point goes on and stops precise
    _, step = counting_step()
    r = run_loop(step, FakeTimer(SPREAD_100MS), 1,
                 LoopSettings(min_time_s=0.1, max_time_s=1.0, cap_time_s=30.0))
    assert r.stop_reason == "precision" and r.precision_reached
    assert 11 < len(r.samples_ns) < 60


def test_a_precision_out_of_reach_stops_at_the_budget_not_the_cap():
    # the same steps with a 1.2 s cap: the projected ~2 s do not fit, so no time is spent
    # past the budget hoping for it
    _, step = counting_step()
    r = run_loop(step, FakeTimer(SPREAD_100MS), 1,
                 LoopSettings(min_time_s=0.1, max_time_s=1.0, cap_time_s=1.2))
    assert r.stop_reason == "max-time" and not r.precision_reached
    assert len(r.samples_ns) == 11


def test_steps_for_precision_scales_with_the_square_of_the_ratio():
    assert stats.steps_for_precision(60, 0.04, 0.02) == pytest.approx(240)
    assert stats.steps_for_precision(60, 0.01, 0.02) == 60       # already there
    assert stats.steps_for_precision(60, float("inf"), 0.02) == float("inf")
