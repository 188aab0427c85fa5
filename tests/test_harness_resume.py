"""An interrupted run resumes from its checkpoint and ends exactly where an uninterrupted run ends."""

import pytest

from harness import store
from harness.checkpoint import checkpoint_path
from harness.resolve import resolve
from harness.runner import execute
from harness.trainer import RunInterrupted, Trainer

pytestmark = pytest.mark.slow  # trains real (tiny) models

STOP_AFTER_STEP = 25  # of 64: after the warmup, between two logged steps' worth of test evaluations


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_config):
    """The same run trained straight through in one folder and interrupted-then-resumed in another."""
    straight_dir, resumed_dir = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    straight = resolve(run_config(straight_dir))
    resumed = resolve(run_config(resumed_dir))
    with pytest.raises(RunInterrupted):
        execute(resumed, stop_after_step=STOP_AFTER_STEP)
    interrupted = {
        "checkpoint": checkpoint_path(resumed_dir, resumed.run_id).exists(),
        "parquet": store.run_path(resumed_dir, resumed.run_id).exists(),
        "claims": sorted(p.name for p in (resumed_dir / "claims").iterdir()),
    }
    steps_taken = []
    with pytest.MonkeyPatch.context() as patch:
        original = Trainer._step
        patch.setattr(Trainer, "_step", lambda self, step: steps_taken.append(step) or original(self, step))
        resumed_path = execute(resumed).path
    return {
        "straight": store.read_run(execute(straight).path),
        "resumed": store.read_run(resumed_path),
        "steps_after_resumption": steps_taken,
        "interrupted": interrupted,
        "resumed_dir": resumed_dir,
        "run_id": resumed.run_id,
    }


def test_interruption_leaves_a_checkpoint_no_result_and_no_claim(runs):
    assert runs["interrupted"] == {"checkpoint": True, "parquet": False, "claims": []}


def test_resumption_trains_only_the_steps_after_the_checkpoint(runs):
    assert runs["steps_after_resumption"] == list(range(STOP_AFTER_STEP, 64))


def test_resumed_run_has_the_run_id_of_the_straight_run(runs):
    assert runs["resumed"][1]["run_id"] == runs["straight"][1]["run_id"]


def test_resumed_final_test_loss_equals_the_straight_runs(runs):
    straight, resumed = runs["straight"][1]["final_test_loss"], runs["resumed"][1]["final_test_loss"]
    assert resumed == pytest.approx(straight, rel=1e-4)
    assert resumed == straight  # fp32 on the CPU is deterministic: exactly equal


def test_resumed_curve_has_the_same_steps_and_tokens_without_gap_or_repeat(runs):
    straight, resumed = runs["straight"][0], runs["resumed"][0]
    assert resumed["tokens"].tolist() == straight["tokens"].tolist()
    assert resumed["step"].is_unique and resumed["step"].is_monotonic_increasing
    assert resumed["step"].iloc[-1] == 64


def test_resumed_curve_losses_and_lr_equal_the_straight_runs(runs):
    straight, resumed = runs["straight"][0], runs["resumed"][0]
    for column in ("train_loss", "test_loss", "lr", "compute_6n"):
        assert resumed[column].fillna(-1).tolist() == straight[column].fillna(-1).tolist(), column


def test_elapsed_time_accumulates_across_the_resumption(runs):
    resumed = runs["resumed"][0]
    assert resumed["elapsed_s"].is_monotonic_increasing
    # The last row is stamped just before its step's bookkeeping ends; the run's wall time includes it.
    assert runs["resumed"][1]["wall_time_s"] == pytest.approx(resumed["elapsed_s"].iloc[-1], abs=0.05)
    assert runs["resumed"][1]["wall_time_s"] >= resumed["elapsed_s"].iloc[-1]


def test_finished_resumed_run_removes_its_checkpoint_and_temp_files(runs):
    folder = runs["resumed_dir"]
    assert not checkpoint_path(folder, runs["run_id"]).exists()
    assert list(folder.rglob("*.tmp")) == []
    assert list((folder / "claims").iterdir()) == []
