"""The cost printed before a sweep starts (suite.estimate), and what it is built from."""
import pytest

from suite.estimate import (STARTUP_S, STEP_OVERHEAD_S, TRAIN_S_PER_PARAM, Estimate,
                            PointCost, duration_text, estimate_sweep, estimate_text,
                            process_seconds, step_seconds)

LOOP = {"min_time_s": 1.0, "max_time_s": 10.0, "cap_time_s": 30.0, "min_steps": 20,
        "warmup_max_s": 10.0}


def test_step_time_comes_from_flops_and_peak():
    # 10 GFLOP at 50% of a 200 GFLOP/s peak: 0.1 s, plus the fixed overhead
    assert step_seconds(10.0, 200.0) == pytest.approx(0.1 + STEP_OVERHEAD_S)
    assert step_seconds(10.0, None) > step_seconds(10.0, 200.0)   # unknown peak: a low guess


def test_a_training_step_pays_for_the_parameters_it_updates():
    # ResNet-18 (11.7 M parameters) at 32 px, batch 2: 0.45 GFLOP alone guess 6.6 ms on a
    # 196 GFLOP/s core; the update makes it about 83 ms, as measured (80-98 ms)
    flops_only = step_seconds(0.45, 196.0)
    trained = step_seconds(0.45, 196.0, trained_params=11_689_512)
    assert flops_only == pytest.approx(0.0066, abs=1e-4)
    assert trained == pytest.approx(flops_only + 11_689_512 * TRAIN_S_PER_PARAM)
    assert 0.080 <= trained <= 0.098
    e = estimate_sweep([PointCost(0.45, 196.0, 2, 11_689_512)], LOOP, processes=1)
    assert e.likely_s == pytest.approx(process_seconds(trained, LOOP, 2)[0])


def test_fast_steps_cost_the_minimum_time():
    likely, at_most = process_seconds(0.001, LOOP)
    # start-up, 15 warm-up steps, the cold step, then --min-time (the steps are done sooner)
    assert likely == pytest.approx(STARTUP_S + 0.015 + 0.001 + 1.0)
    assert at_most == pytest.approx(STARTUP_S + 10.0 + 0.001 + 30.0)


def test_slow_steps_run_min_steps_up_to_the_cap():
    # 1 s steps: 20 min steps take 20 s, past the 10 s --max-time but within the 30 s cap
    likely, _ = process_seconds(1.0, LOOP)
    assert likely == pytest.approx(STARTUP_S + 10.0 + 1.0 + 20.0)
    # 2 s steps: the cap (30 s) stops the min steps (40 s)
    likely, _ = process_seconds(2.0, LOOP)
    assert likely == pytest.approx(STARTUP_S + 10.0 + 2.0 + 30.0)


def test_min_iterations_run_past_every_budget():
    # 5 s steps: 10 steps always run (50 s), beyond the cap; the bound says so too
    likely, at_most = process_seconds(5.0, LOOP)
    assert likely == pytest.approx(STARTUP_S + 10.0 + 5.0 + 50.0)
    assert at_most == pytest.approx(STARTUP_S + 10.0 + 5.0 + 50.0)


def test_training_samples_limit_the_timed_part():
    # 100 samples at batch 10 = 10 steps of 0.5 s = 5 s, below --max-time
    # (training warms up for at least 20 steps: 25 x 0.5 s, beyond the 10 s budget)
    loop = dict(LOOP, max_items=100, min_steps=0, warmup_min_iterations=20)
    likely, _ = process_seconds(0.5, loop, batch_size=10)
    assert likely == pytest.approx(STARTUP_S + 10.0 + 0.5 + 5.0)
    likely, _ = process_seconds(0.1, loop, batch_size=10)
    assert likely == pytest.approx(STARTUP_S + 2.5 + 0.1 + 1.0)


def test_sweep_estimate_sums_points_and_processes():
    e = estimate_sweep([(1e-3, 100.0, 1), (1e-3, 100.0, 2)], LOOP, processes=3)
    one, most = process_seconds(step_seconds(1e-3, 100.0), LOOP)
    assert e == Estimate(2, 3, pytest.approx(6 * one), pytest.approx(6 * most))
    # imprecise points may get up to 5 processes: the bound counts them
    assert estimate_sweep([(1e-3, 100.0, 1)], LOOP, 3, 5).at_most_s == pytest.approx(5 * most)
    text = estimate_text(e)
    assert text.startswith("estimate: 2 points x 3 processes, about ")
    assert "at most" in text and "50% of the measured peak" in text


@pytest.mark.parametrize("seconds,text", [(45, "45 s"), (240, "4 min"), (4800, "1 h 20 min")])
def test_durations_read_well(seconds, text):
    assert duration_text(seconds) == text


def test_a_cuda_point_is_guessed_from_the_gpu_peak_with_launch_and_cuda_start_up():
    from suite.estimate import CUDA_INIT_S, GPU_COSTS
    # 100 GFLOP at 20% of a 400 TFLOP/s peak: 1.25 ms, plus 5 ms of kernel launches
    assert step_seconds(100.0, 400_000.0, device="cuda") == \
        pytest.approx(100.0 / (400_000.0 * GPU_COSTS.efficiency) + GPU_COSTS.step_overhead_s)
    assert GPU_COSTS.step_overhead_s > STEP_OVERHEAD_S       # launches, not dispatch
    # an unmeasured GPU peak is guessed as a GPU's, not as a CPU core's 50 GFLOP/s
    assert step_seconds(100.0, None, device="cuda") < 0.05 < step_seconds(100.0, None)
    likely, _ = process_seconds(0.001, LOOP, device="cuda")
    assert likely == pytest.approx(STARTUP_S + CUDA_INIT_S + 0.015 + 0.001 + 1.0)
    e = estimate_sweep([PointCost(100.0, 400_000.0, 64, 0, "cuda")], LOOP, processes=3)
    assert e.gpu and e.likely_s == pytest.approx(3 * process_seconds(
        step_seconds(100.0, 400_000.0, device="cuda"), LOOP, 64, "cuda")[0])
    text = estimate_text(e)
    assert "20% of the GPU's measured peak of each point's dtype (float32: TF32's)" in text
    assert "5 ms of kernel launches per step" in text
    assert "start-up per worker including CUDA initialisation" in text
    assert "CUDA" not in estimate_text(estimate_sweep([(1e-3, 100.0, 1)], LOOP, 1))
