"""Gradient accumulation (train.micro_batch_size): a step's batch in equal chunks, one clip and one AdamW step.

The result does not depend on the micro-batch (up to the order of float sums), so the run id does not either.
"""

import logging
import math

import pytest
import torch

from configs.errors import ConfigError
from harness.data import prepare_data
from harness.resolve import resolve
from harness.runner import log_derived_values, set_threads
from harness.trainer import Trainer

pytestmark = pytest.mark.slow  # trains two real (tiny) models

BATCH, MICRO = 8, 2  # TINY_RUN's batch, in 4 micro-batches
STEPS = 32
# Measured: 6.5e-7 relative at most over the train-loss rows, 1.9e-7 over the test losses, the final test loss
# equal (fp32 CPU, 2-core, 2026-12-02); a skipped or repeated step moves this run's loss by about 1%.
ACCUMULATION_REL = 1e-5


def _train(run, tmp_path, name):
    """The run's outcome, and (training?, sequences) of every forward pass of its model."""
    set_threads(run, 1)  # TINY_RUN's one thread, as the runner sets it
    trainer = Trainer(run, prepare_data(run.config.data), torch.device("cpu"), tmp_path / f"{name}.pt")
    passes = []
    trainer.model.register_forward_pre_hook(lambda module, args: passes.append((module.training, len(args[0]))))
    return trainer.train(), passes


@pytest.fixture(scope="module")
def runs(run_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("micro")
    whole = resolve(run_config(tmp, f"train.tokens={STEPS * BATCH * 64}"))
    micro = resolve(run_config(tmp, f"train.tokens={STEPS * BATCH * 64}", f"train.micro_batch_size={MICRO}"))
    assert (whole.batch_size, whole.steps, micro.micro_batch_size) == (BATCH, STEPS, MICRO)
    return {"whole": _train(whole, tmp, "whole"), "micro": _train(micro, tmp, "micro")}


def _max_rel(whole: list, micro: list) -> float:
    pairs = [(a, b) for a, b in zip(whole, micro) if not math.isnan(a)]
    assert pairs and all(not math.isnan(b) for _, b in pairs)
    return max(abs(a - b) / abs(a) for a, b in pairs)


def test_micro_batches_give_the_curve_of_the_whole_batch(runs):
    whole, micro = runs["whole"][0].rows, runs["micro"][0].rows
    assert [r["step"] for r in micro] == [r["step"] for r in whole]
    for column in ("train_loss", "test_loss"):
        assert _max_rel([r[column] for r in whole], [r[column] for r in micro]) < ACCUMULATION_REL, column
    assert runs["micro"][0].final_test_loss == pytest.approx(runs["whole"][0].final_test_loss, rel=ACCUMULATION_REL)


def test_each_step_runs_batch_over_micro_forward_passes_of_micro_sequences(runs):
    whole, micro = ([n for training, n in runs[k][1] if training] for k in ("whole", "micro"))
    assert whole == [BATCH] * STEPS
    assert micro == [MICRO] * (STEPS * BATCH // MICRO)


def test_evaluation_runs_micro_batches_too(runs):
    assert {n for training, n in runs["micro"][1] if not training} == {MICRO}
    assert {n for training, n in runs["whole"][1] if not training} == {BATCH}


def test_micro_batch_size_changes_neither_the_run_id_nor_the_trunk_id(run_config, tmp_path):
    for schedule in ("cosine", "wsd"):
        extra = [f"train.schedule={schedule}", "train.warmup_tokens=2048"]
        whole, micro = (resolve(run_config(tmp_path, *extra, *m)) for m in ([], [f"train.micro_batch_size={MICRO}"]))
        assert (micro.run_id, micro.trunk_id) == (whole.run_id, whole.trunk_id)


def test_micro_batch_that_does_not_divide_the_batch_is_rejected(run_config, tmp_path):
    with pytest.raises(ConfigError, match=r"train.micro_batch_size=3: must divide the batch of 8 sequences "
                                          r"\(train.batch_rule=fixed\): one of \[1, 2, 4, 8\]"):
        resolve(run_config(tmp_path, "train.micro_batch_size=3"))


def test_micro_batch_is_checked_against_the_critical_batch_of_kaplan_bcrit(run_config, tmp_path):
    bcrit = ["train.tokens=2e6", "train.batch_rule=kaplan_bcrit"]
    batch = resolve(run_config(tmp_path, *bcrit)).batch_size
    divisor = max(d for d in range(2, batch) if batch % d == 0)
    assert resolve(run_config(tmp_path, *bcrit, f"train.micro_batch_size={divisor}")).micro_batch_size == divisor
    with pytest.raises(ConfigError, match=f"must divide the batch of {batch} sequences "
                                          r"\(train.batch_rule=kaplan_bcrit\)"):
        resolve(run_config(tmp_path, *bcrit, f"train.micro_batch_size={divisor + 1}"))


def test_negative_micro_batch_is_rejected(run_config, tmp_path):
    with pytest.raises(ConfigError, match=r"train.micro_batch_size=-1: must be >= 0"):
        run_config(tmp_path, "train.micro_batch_size=-1")


def test_the_log_names_the_micro_batches(run_config, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        log_derived_values(resolve(run_config(tmp_path, f"train.micro_batch_size={MICRO}")))
        log_derived_values(resolve(run_config(tmp_path)))
    first, second = [r.getMessage() for r in caplog.records]
    assert f"batch {BATCH} x 64 tokens in micro-batches of {MICRO}, " in first
    assert f"batch {BATCH} x 64 tokens, " in second
