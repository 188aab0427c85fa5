"""Learning-rate schedule, measurement steps and Kaplan's LR(N) rule (harness/schedule.py, harness/resolve.py)."""

import math

import pytest

from harness.resolve import kaplan_lr
from harness.schedule import evenly_spaced_steps, log_spaced_steps, lr_at

PEAK = 1e-3


@pytest.mark.parametrize("step, expected", [(0, 1e-4), (4, 5e-4), (9, 1e-3)])
def test_warmup_rises_linearly_to_the_peak(step, expected):
    # 10 warmup steps: update k (0-based) uses (k+1)/10 of the peak.
    assert lr_at(step, PEAK, warmup_steps=10, total_steps=111, final_ratio=0.1) == pytest.approx(expected, rel=1e-12)


def test_cosine_starts_at_the_peak_after_warmup():
    assert lr_at(10, PEAK, warmup_steps=10, total_steps=111, final_ratio=0.1) == pytest.approx(PEAK, rel=1e-12)


def test_cosine_is_halfway_between_peak_and_final_at_mid_decay():
    # Decay spans steps 10..110 (100 steps); step 60 is half-way: final + (1 - final) / 2 = 0.55 of the peak.
    assert lr_at(60, PEAK, warmup_steps=10, total_steps=111, final_ratio=0.1) == pytest.approx(0.55e-3, rel=1e-12)


@pytest.mark.parametrize("final_ratio", [0.0, 0.1, 1.0])
def test_cosine_reaches_final_ratio_of_the_peak_exactly_at_the_last_step(final_ratio):
    assert lr_at(110, PEAK, warmup_steps=10, total_steps=111, final_ratio=final_ratio) == pytest.approx(
        final_ratio * PEAK, rel=1e-12, abs=1e-18)


def test_lr_decreases_monotonically_after_warmup():
    lrs = [lr_at(s, PEAK, 10, 111, 0.0) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == 0.0


def test_schedule_without_warmup_starts_at_the_peak():
    assert lr_at(0, PEAK, warmup_steps=0, total_steps=50, final_ratio=0.0) == PEAK


@pytest.mark.parametrize("total, n", [(64, 20), (1000, 24), (250_000, 24), (21, 20)])
def test_log_spaced_steps_are_at_least_n_distinct_from_first_to_last(total, n):
    steps = log_spaced_steps(total, n)
    assert len(steps) >= n
    assert len(set(steps)) == len(steps) and steps == sorted(steps)
    assert (steps[0], steps[-1]) == (1, total)


def test_log_spaced_steps_are_denser_early():
    steps = log_spaced_steps(250_000, 24)
    assert sum(s <= 500 for s in steps) >= 10  # half the points in the first 0.2% of training


def test_log_spaced_steps_of_a_short_run_are_every_step():
    assert log_spaced_steps(5, 20) == [1, 2, 3, 4, 5]


def test_evenly_spaced_steps_include_the_last():
    assert evenly_spaced_steps(100, 5) == [1, 26, 50, 75, 100]


def test_kaplan_lr_at_one_million_parameters():
    # Kaplan et al. 2020 eq. D.1: LR(N) = 0.003239 - 0.0001395 ln N.
    assert kaplan_lr(1_000_000) == pytest.approx(0.003239 - 0.0001395 * math.log(1e6), rel=1e-12)
    assert kaplan_lr(1_000_000) == pytest.approx(0.0013117, abs=1e-7)


def test_kaplan_lr_falls_with_model_size():
    assert kaplan_lr(10_000) > kaplan_lr(1_000_000) > kaplan_lr(100_000_000) > 0
