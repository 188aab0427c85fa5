"""Divergence: a run whose loss stops being finite is stopped, recorded as 'diverged' at the step it
happened, and the sweep goes on to its next run."""

from __future__ import annotations

import math

import pytest

from harness import store

pytestmark = pytest.mark.slow  # trains real (tiny) models

# lr 1e4 with AdamW's decoupled weight decay 0.1 multiplies every matrix by (1 - 1e3) per step: the
# weights overflow float32 within a few dozen steps. The diverging point comes first in the grid.
GRID = ["train.lr_rule=fixed", "train.lr=1e4,1e-3"]
TINY = ["sweep=smoke", "model.d_model=16", "model.n_layer=1", "train.tokens=16384", "train.threads=1",
        "sweep.analyze=false"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, run_script):
    results = tmp_path_factory.mktemp("diverge")
    done = run_script("sweep.py", [*TINY, *GRID, f"sweep.results_dir={results}"], results)
    runs = {meta["lr"]: (curve, meta) for curve, meta in store.read_runs(results)}
    return {"done": done, "results": results, "runs": runs}


def test_sweep_with_a_diverging_run_exits_zero_and_records_both_runs(sweep):
    assert sweep["done"].returncode == 0, sweep["done"].stdout[-3000:]
    assert sorted(sweep["runs"]) == [1e-3, 1e4]


def test_diverging_run_is_recorded_as_diverged_at_the_step_it_happened(sweep):
    curve, meta = sweep["runs"][1e4]
    assert meta["status"] == "diverged"
    assert 1 <= meta["diverged_step"] < meta["steps"]
    assert (curve["step"] < meta["diverged_step"]).all()  # rows stop before the non-finite loss
    assert curve["train_loss"].map(math.isfinite).all()
    assert f"run {meta['run_id'][:8]}" in sweep["done"].stdout and "diverged" in sweep["done"].stdout


def test_run_after_the_diverged_one_completes(sweep):
    curve, meta = sweep["runs"][1e-3]
    assert (meta["status"], meta["diverged_step"]) == ("completed", -1)
    assert curve["step"].iloc[-1] == meta["steps"]
    assert math.isfinite(meta["final_test_loss"])


def test_diverged_run_leaves_no_checkpoint_claim_or_temp_file(sweep):
    results = sweep["results"]
    leftovers = [p for sub in ("checkpoints", "claims", "runs") for p in (results / sub).glob(".*")]
    leftovers += list((results / "checkpoints").glob("*")) + list((results / "claims").glob("*"))
    assert leftovers == []
