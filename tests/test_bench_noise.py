"""scripts/noise.py's measurement on two tiny runs: the difference and its paired standard error come from
the per-window losses the trainer's own test_loss averages."""
import math

import pytest
import torch

from harness.bench.noise import paired_noise
from harness.trainer import sem


def test_paired_noise_on_two_tiny_runs(tiny_run_overrides):
    a = [*tiny_run_overrides, "model.n_layer=1"]
    b = [*tiny_run_overrides, "model.n_layer=2"]
    r = paired_noise(a, b)
    assert r["windows"] == 32  # the smoke data's test windows
    assert math.isclose(r["difference"], r["loss_b"] - r["loss_a"], rel_tol=1e-5, abs_tol=1e-6)
    assert 0 < r["sem_difference_paired"] < r["sem_difference_unpaired"]


def test_sem_by_hand():
    # sample sd of 1..4 = sqrt(5/3) = 1.2910; over sqrt(4)
    assert sem(torch.tensor([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.6454972, rel=1e-6)
