"""scripts/cooldown.py's measurement on the smallest case: one shape, two budgets, both ways."""

import pandas as pd
import pytest

from harness.bench.cooldown import compare_shape, markdown

pytestmark = pytest.mark.slow  # trains real (tiny) models


def test_branches_and_cosine_runs_are_compared_on_the_same_windows_and_priced(data_overrides, tmp_path):
    budgets, cost, curves = compare_shape("smoke", 1, 16, [8192, 16384], tmp_path,
                                          [*data_overrides, "train.warmup_tokens=1024", "train.threads=1"])
    assert budgets["D"].tolist() == [8192, 16384]
    assert budgets["fork_step"].tolist() == [13, 26] and budgets["windows"].tolist() == [32, 32]
    gap = budgets["wsd_loss"] - budgets["cosine_loss"]  # the mean of the per-window differences
    assert budgets["wsd_minus_cosine"].tolist() == pytest.approx(gap.tolist(), abs=1e-5)
    assert (budgets["sem_paired"] > 0).all()
    # trunk to step 26, cooldowns of 3 and 6 steps, against 16 + 32 steps of cosine
    assert cost["flops_ratio"] == pytest.approx((26 + 3 + 6) / 48)
    assert sorted(curves["wsd"]) == sorted(curves["cosine"]) == [8192, 16384]
    cosine_lrs = [row["lr"] for row in curves["cosine"][16384]]
    wsd_lrs = [row["lr"] for row in curves["wsd"][16384]]
    assert cosine_lrs[0] == wsd_lrs[0]  # the same warmup: only the decay differs
    assert "wsd − cosine" in markdown(budgets, pd.DataFrame([cost]))
