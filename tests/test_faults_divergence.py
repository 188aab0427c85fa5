"""Divergence: a run whose loss blows up, finite or not, is stopped, recorded as 'diverged' with the rule that
fired and the step, and the sweep goes on to its next run (harness/divergence.py)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch

from harness import divergence, store, trainer
from harness.divergence import find_divergence
from harness.resolve import resolve
from harness.runner import execute

# lr 10 keeps the loss finite under gradient clipping (332 nats at step 2 against 5.95 at step 1, measured);
# lr 1e4 overflows float32 soon after. The diverging points come first in the grid.
GRID = ["train.lr_rule=fixed", "train.lr=1e4,10,1e-3"]
TINY = ["sweep=smoke", "model.d_model=16", "model.n_layer=1", "train.tokens=16384", "train.threads=1",
        "sweep.analyze=false"]


def _rows(*losses: float, start: int = 1) -> list[dict]:
    return [{"step": start + i, "train_loss": loss} for i, loss in enumerate(losses)]


def test_unigram_loss_is_the_entropy_of_the_token_frequencies():
    assert divergence.unigram_loss_nats(np.array([0, 0, 1, 1], dtype=np.uint16)) == pytest.approx(math.log(2))
    # frequencies 1/2, 1/4, 1/4: H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2
    assert divergence.unigram_loss_nats(np.array([3, 3, 5, 7])) == pytest.approx(1.5 * math.log(2))


def test_rise_fires_past_the_factor_over_the_best_earlier_row():
    assert find_divergence(_rows(6.0, 4.0, 4.0 * divergence.RISE_FACTOR * 0.99), 5.0, 100) is None
    found = find_divergence(_rows(6.0, 4.0, 4.0 * divergence.RISE_FACTOR * 1.01), 5.0, 100)
    assert (found.rule, found.step, found.threshold) == ("rise", 3, pytest.approx(4.0 * divergence.RISE_FACTOR))


def test_above_start_fires_only_after_the_sustained_window():
    n = divergence.ABOVE_START_ROWS
    assert find_divergence(_rows(6.0, *[6.1] * (n - 1)), 5.0, 100) is None
    found = find_divergence(_rows(6.0, *[6.1] * n), 5.0, 100)
    assert (found.rule, found.step, found.threshold) == ("above_start", n + 1, 6.0)


def test_ends_above_unigram_judges_only_the_last_row_of_a_long_run():
    long = divergence.UNIGRAM_MIN_STEPS
    assert find_divergence(_rows(6.0, 5.2, start=long - 1), 5.0, long).rule == "ends_above_unigram"
    assert find_divergence(_rows(6.0, 5.2, start=long - 2), 5.0, long) is None  # not its last row
    assert find_divergence(_rows(6.0, 5.2, start=long - 2), 5.0, long - 1) is None  # too short to judge
    assert find_divergence(_rows(6.0, 4.9, start=long - 1), 5.0, long) is None


def test_non_finite_loss_stops_the_run_at_that_step(run_config, tmp_path, monkeypatch, caplog):
    run = resolve(run_config(tmp_path))
    original = trainer.Trainer._step

    def step(self, i):  # step i + 1's loss is NaN at the 5th step
        loss, lr = original(self, i)
        return (torch.full_like(loss, math.nan) if i + 1 == 5 else loss), lr

    monkeypatch.setattr(trainer.Trainer, "_step", step)
    with caplog.at_level(logging.WARNING, logger="scalinglab"):
        assert execute(run).status == "diverged"
    _, meta = store.read_run(store.run_path(tmp_path, run.run_id))
    assert (meta["diverged_rule"], meta["diverged_step"]) == ("non_finite", 5)
    assert f"run {run.run_id[:8]}: diverged, rule non_finite at step 5" in caplog.text


def test_non_finite_loss_between_rows_is_caught_at_the_next_row_with_its_exact_step(run_config, tmp_path,
                                                                                      monkeypatch):
    # Step losses stay on the device until a row reads them, so the run stops at the next row step, but the
    # recorded step is the first non-finite one, and no row at or after it is recorded.
    run = resolve(run_config(tmp_path))
    row_steps, _ = trainer.whole_run_steps(run)
    bad = 48  # rows at 47 and 51 (20 evenly spaced and 20 log-spaced points of 64 steps)
    assert bad not in row_steps and bad - 1 in row_steps and min(s for s in row_steps if s > bad) == 51
    original, taken = trainer.Trainer._step, []

    def step(self, i):
        taken.append(i + 1)
        loss, lr = original(self, i)
        return (torch.full_like(loss, math.inf) if i + 1 == bad else loss), lr

    monkeypatch.setattr(trainer.Trainer, "_step", step)
    assert execute(run).status == "diverged"
    curve, meta = store.read_run(store.run_path(tmp_path, run.run_id))
    assert (meta["diverged_rule"], meta["diverged_step"]) == ("non_finite", bad)
    assert curve["step"].iloc[-1] == bad - 1 and taken[-1] == 51


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, run_script):
    results = tmp_path_factory.mktemp("diverge")
    done = run_script("sweep.py", [*TINY, *GRID, f"sweep.results_dir={results}"], results)
    runs = {meta["lr"]: (curve, meta) for curve, meta in store.read_runs(results)}
    return {"done": done, "results": results, "runs": runs}


@pytest.mark.slow
def test_sweep_with_diverging_runs_exits_zero_and_records_every_run(sweep):
    assert sweep["done"].returncode == 0, sweep["done"].stdout[-3000:]
    assert sorted(sweep["runs"]) == [1e-3, 10, 1e4]


@pytest.mark.slow
@pytest.mark.parametrize("lr", [10, 1e4])
def test_diverging_run_is_recorded_with_its_rule_and_step(sweep, lr):
    curve, meta = sweep["runs"][lr]
    assert (meta["status"], meta["diverged_rule"], meta["diverged_step"]) == ("diverged", "rise", 2)
    assert list(curve["step"]) == [1, 2]  # rows stop at the step the rule fired
    assert curve["train_loss"].iloc[0] == pytest.approx(math.log(384), abs=0.05)  # the untrained model
    assert curve["train_loss"].iloc[1] > divergence.RISE_FACTOR * curve["train_loss"].iloc[0]
    assert meta["train_unigram_loss_nats"] == pytest.approx(4.898, abs=0.001)  # the smoke data's, measured
    assert f"run {meta['run_id'][:8]}: diverged, rule rise at step 2" in sweep["done"].stdout


@pytest.mark.slow
def test_run_after_the_diverged_ones_completes(sweep):
    curve, meta = sweep["runs"][1e-3]
    assert (meta["status"], meta["diverged_step"], meta["diverged_rule"]) == ("completed", -1, "")
    assert curve["step"].iloc[-1] == meta["steps"]
    assert math.isfinite(meta["final_test_loss"])


@pytest.mark.slow
def test_diverged_run_leaves_no_checkpoint_claim_or_temp_file(sweep):
    results = sweep["results"]
    leftovers = [p for sub in ("checkpoints", "claims", "runs") for p in (results / sub).glob(".*")]
    leftovers += list((results / "checkpoints").glob("*")) + list((results / "claims").glob("*"))
    assert leftovers == []


def test_healthy_tiny_run_trips_no_rule(run_config, tmp_path):
    run = resolve(run_config(tmp_path))
    assert execute(run).status == "completed"
    curve, meta = store.read_run(store.run_path(tmp_path, run.run_id))
    assert meta["diverged_rule"] == ""
    assert curve["train_loss"].max() <= curve["train_loss"].iloc[0] * 1.01


def test_excluded_runs_name_the_rule_that_fired():
    from analysis.data import split_by_status

    runs = pd.DataFrame({"run_id": ["ok", "rose", "old"], "status": ["completed", "diverged", "diverged"],
                         "final_test_loss": [3.0, math.nan, 5.0], "tokens": [512] * 3, "n_layer": [1] * 3,
                         "d_model": [16] * 3, "diverged_step": [-1, 2, 3], "diverged_rule": ["", "rise", None]})
    usable, excluded = split_by_status(runs)
    assert list(usable["run_id"]) == ["ok"]
    assert list(excluded["reason"]) == ["status=diverged (rule rise)", "status=diverged"]  # 'old': written before rules
