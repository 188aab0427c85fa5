"""Packed runs: each member of a pack ends where its run trained alone by the Trainer ends, a diverging member
leaves the others untouched, and an interrupted pack resumes, as a pack or run by run.

Tolerance: 1e-5 nats on every loss (fp32 on the CPU; a pack's batched matmuls round differently from a
run's own, and the differences measured here are at most 1e-6)."""

import math

import pytest
import torch

from harness import store
from harness.checkpoint import checkpoint_path
from harness.data import prepare_data
from harness.pack_runner import execute_pack
from harness.packed import PackedTrainer
from harness.resolve import resolve
from harness.runner import execute
from harness.trainer import RunInterrupted, Trainer

pytestmark = pytest.mark.slow  # trains real (tiny) models

NATS = 1e-5
STEPS = 32  # of 8 x 64 tokens
STOP_AFTER_STEP = 13
# Three members of one shape: other seeds, peak rates and beta2 (what members may differ in).
MEMBERS = (("train.seed=0", "train.lr=1e-3", "train.beta2=0.95"),
           ("train.seed=1", "train.lr=3e-3", "train.beta2=0.95"),
           ("train.seed=2", "train.lr=2e-3", "train.beta2=0.99"))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as execute() sets for TINY_RUN (train.threads=1): on a shared 2-core machine two OpenMP
    threads can make a step 100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _runs(run_config, results_dir, members=MEMBERS):
    return [resolve(run_config(results_dir, f"train.tokens={STEPS * 8 * 64}", "train.lr_rule=fixed", *m))
            for m in members]


def _curves_match(a: list, b: list) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    for x, y in zip(a, b):
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=NATS)
        assert math.isnan(x["test_loss"]) == math.isnan(y["test_loss"])
        if not math.isnan(x["test_loss"]):
            assert x["test_loss"] == pytest.approx(y["test_loss"], abs=NATS)


@pytest.fixture(scope="module")
def alone(tmp_path_factory, run_config):
    """Each member trained alone by the Trainer: (runs, outcomes)."""
    folder = tmp_path_factory.mktemp("alone")
    runs = _runs(run_config, folder)
    data = prepare_data(runs[0].config.data)
    return runs, [Trainer(r, data, torch.device("cpu"), folder / f"{r.run_id}.pt").train() for r in runs]


@pytest.fixture(scope="module")
def packed(tmp_path_factory, run_config):
    """The three members trained as one pack: {member index: outcome}."""
    folder = tmp_path_factory.mktemp("packed")
    runs = _runs(run_config, folder)
    outcomes = {}
    PackedTrainer(runs, prepare_data(runs[0].config.data), torch.device("cpu"),
                  [folder / f"{r.run_id}.pt" for r in runs], on_done=outcomes.__setitem__).train()
    return outcomes


def test_each_member_has_its_runs_curve_rows_lr_and_losses(alone, packed):
    for i, outcome in enumerate(alone[1]):
        assert packed[i].status == outcome.status == "completed"
        _curves_match(packed[i].rows, outcome.rows)


def test_each_member_ends_at_its_runs_final_test_loss(alone, packed):
    for i, outcome in enumerate(alone[1]):
        assert packed[i].final_test_loss == pytest.approx(outcome.final_test_loss, abs=NATS)
        assert packed[i].final_test_loss_by_position == pytest.approx(outcome.final_test_loss_by_position, abs=NATS)


def test_members_with_other_seeds_and_rates_end_apart(packed):
    finals = [packed[i].final_test_loss for i in range(3)]
    assert min(abs(a - b) for a, b in ((finals[0], finals[1]), (finals[0], finals[2]), (finals[1], finals[2]))) > 0.01


def test_a_member_whose_weights_turn_nan_diverges_alone(tmp_path, run_config, alone):
    runs = _runs(run_config, tmp_path, MEMBERS[:2])
    outcomes = {}
    trainer = None

    def poison(i: int, row: dict) -> None:
        if i == 1 and row["step"] == 10:  # member 1's weights, in the stacked tensors every member shares
            with torch.no_grad():
                for p in trainer.params.values():
                    p[1].fill_(math.nan)

    trainer = PackedTrainer(runs, prepare_data(runs[0].config.data), torch.device("cpu"),
                            [tmp_path / f"{r.run_id}.pt" for r in runs], on_row=poison,
                            on_done=outcomes.__setitem__)
    trainer.train()
    assert (outcomes[1].status, outcomes[1].diverged_rule, outcomes[1].diverged_step) == ("diverged", "non_finite", 11)
    assert [r["step"] for r in outcomes[1].rows][-1] == 10
    _curves_match(outcomes[0].rows, alone[1][0].rows)
    assert outcomes[0].final_test_loss == pytest.approx(alone[1][0].final_test_loss, abs=NATS)


def test_a_member_at_a_diverging_rate_is_recorded_diverged_and_the_other_completes(tmp_path, run_config, alone):
    runs = _runs(run_config, tmp_path, (MEMBERS[0], ("train.seed=1", "train.lr=10", "train.beta2=0.95")))
    results = execute_pack(runs)
    meta = [store.read_metadata(r.path) for r in results]
    assert [m["status"] for m in meta] == ["completed", "diverged"]
    assert meta[1]["diverged_rule"] in ("rise", "above_start", "non_finite")
    assert meta[0]["final_test_loss"] == pytest.approx(alone[1][0].final_test_loss, abs=NATS)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, run_config):
    """interrupted() -> (folder, runs) of the first two members, packed and stopped after STOP_AFTER_STEP."""

    def _interrupt():
        folder = tmp_path_factory.mktemp("interrupted")
        runs = _runs(run_config, folder, MEMBERS[:2])
        with pytest.raises(RunInterrupted):
            execute_pack(runs, stop_after_step=STOP_AFTER_STEP)
        return folder, runs

    return _interrupt


def test_an_interrupted_pack_leaves_each_member_a_checkpoint_no_result_and_no_claim(interrupted):
    folder, runs = interrupted()
    assert [checkpoint_path(folder, r.run_id).exists() for r in runs] == [True, True]
    assert [store.run_path(folder, r.run_id).exists() for r in runs] == [False, False]
    assert list((folder / "claims").iterdir()) == []


def test_an_interrupted_pack_resumes_as_a_pack_to_its_runs_results(interrupted, alone):
    folder, runs = interrupted()
    results = execute_pack(runs)
    for i, result in enumerate(results):
        curve, meta = store.read_run(result.path)
        assert curve["step"].is_unique and curve["step"].iloc[-1] == STEPS
        _curves_match(curve.to_dict("records"), alone[1][i].rows)
        assert meta["final_test_loss"] == pytest.approx(alone[1][i].final_test_loss, abs=NATS)
        assert not checkpoint_path(folder, runs[i].run_id).exists()


def test_a_members_checkpoint_resumes_as_an_ordinary_run(interrupted, alone):
    folder, runs = interrupted()
    for i, run in enumerate(runs):
        steps = []
        with pytest.MonkeyPatch.context() as patch:
            original = Trainer._step
            patch.setattr(Trainer, "_step", lambda self, step: steps.append(step) or original(self, step))
            result = execute(run)
        assert steps == list(range(STOP_AFTER_STEP, STEPS))
        assert store.read_metadata(result.path)["final_test_loss"] == pytest.approx(alone[1][i].final_test_loss,
                                                                                    abs=NATS)


def test_ordinary_checkpoints_resume_as_a_pack(tmp_path, run_config, alone):
    runs = _runs(run_config, tmp_path, MEMBERS[:2])
    for run in runs:
        with pytest.raises(RunInterrupted):
            execute(run, stop_after_step=STOP_AFTER_STEP)
    results = execute_pack(runs)
    for i, result in enumerate(results):
        assert store.read_metadata(result.path)["final_test_loss"] == pytest.approx(alone[1][i].final_test_loss,
                                                                                    abs=NATS)
