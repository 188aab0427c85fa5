"""Step losses stay on the device until the curve state needs them: one read (host sync) per row or save."""

import pytest
import torch

from harness.data import prepare_data
from harness.resolve import resolve
from harness.runner import set_threads
from harness.trainer import Trainer, whole_run_steps

pytestmark = pytest.mark.slow  # trains two real (tiny) models

EVERY_STEP_S = 1e-9  # a checkpoint interval that is due after every step


@pytest.fixture(scope="module")
def runs(run_config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reads")
    out = {}
    for name, extra in (("rows", []), ("checkpoints", [f"train.checkpoint_interval_s={EVERY_STEP_S}"])):
        run = resolve(run_config(tmp, *extra))
        set_threads(run, 1)  # TINY_RUN's one thread, as the runner sets it
        trainer = Trainer(run, prepare_data(run.config.data), torch.device("cpu"), tmp / f"{name}.pt")
        reads, losses = [], []  # the step after which each read happened; what each step returned
        with pytest.MonkeyPatch.context() as patch:
            read, step = Trainer._read_losses, Trainer._step
            patch.setattr(Trainer, "_read_losses", lambda self, read=read: reads.append(self.state.step) or read(self))
            patch.setattr(Trainer, "_step", lambda self, i, step=step: losses.append(step(self, i)) or losses[-1])
            outcome = trainer.train()
        out[name] = {"run": run, "reads": reads, "losses": [loss for loss, _ in losses],
                     "rows": [{k: v for k, v in r.items() if k != "elapsed_s"} for r in outcome.rows]}
    return out


def test_a_step_returns_its_loss_as_an_unread_tensor(runs):
    assert all(isinstance(loss, torch.Tensor) and loss.dim() == 0 for loss in runs["rows"]["losses"])


def test_losses_are_read_only_at_row_steps(runs):
    row_steps, _ = whole_run_steps(runs["rows"]["run"])
    assert runs["rows"]["reads"] == sorted(row_steps)
    assert len(runs["rows"]["reads"]) == 34 < runs["rows"]["run"].steps == 64


def test_a_checkpoint_reads_the_losses_it_saves_and_the_curve_is_unchanged(runs):
    assert runs["checkpoints"]["reads"] == list(range(1, 65))
    assert str(runs["checkpoints"]["rows"]) == str(runs["rows"]["rows"])  # str: NaN test losses compare equal
