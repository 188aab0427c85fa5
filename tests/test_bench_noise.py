"""scripts/noise.py's measurement on two tiny runs: per-window losses average to the trainer's test loss,
and the paired standard error is computed from the per-window differences."""
import math

import torch

from harness.bench.noise import paired_noise, sem

TINY_RUN = ["model.d_model=32", "model.d_head=16", "model.n_ctx=64", "train.tokens=32768", "train.batch_size=8",
            "train.eval_points=20", "train.train_log_points=20", "train.threads=1"]


def test_paired_noise_on_two_tiny_runs(data_overrides):
    a = [*data_overrides, *TINY_RUN, "model.n_layer=1"]
    b = [*data_overrides, *TINY_RUN, "model.n_layer=2"]
    r = paired_noise(a, b)
    assert r["windows"] == 32  # the smoke data's test windows
    assert math.isclose(r["difference"], r["loss_b"] - r["loss_a"], rel_tol=1e-5, abs_tol=1e-6)
    assert 0 < r["sem_difference_paired"] < r["sem_difference_unpaired"]


def test_sem_by_hand():
    assert sem(torch.tensor([1.0, 2.0, 3.0, 4.0])) == torch.tensor([1.0, 2.0, 3.0, 4.0]).std().item() / 2
