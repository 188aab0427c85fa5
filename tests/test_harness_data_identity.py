"""A results folder is not reused across a change of the text under the same config (harness/plan.py).

The run id hashes the config, not the corpus: text files edited in place, another dataset revision or the
stdlib of another Python give the same id. A finished run or a checkpoint of the old text must not be
skipped as done or resumed; both stop with a ConfigError naming sweep.results_dir.
"""

import dataclasses

import pytest

from configs.errors import ConfigError
from harness import runner, store
from harness.checkpoint import checkpoint_path
from harness.resolve import resolve
from harness.trainer import RunInterrupted

pytestmark = pytest.mark.slow  # trains real (tiny) models


@pytest.fixture
def text_changes(monkeypatch):
    """After this is called, prepare_data returns the same tokens under another fingerprint."""
    real = runner.prepare_data

    def change():
        monkeypatch.setattr(runner, "prepare_data",
                            lambda cfg: dataclasses.replace(real(cfg), fingerprint="f" * 64))
    return change


def test_a_finished_run_of_other_text_is_refused_not_skipped(run_config, tmp_path, text_changes):
    run = resolve(run_config(tmp_path))
    assert runner.execute(run).action == "trained"
    assert runner.execute(run).action == "skipped"  # same text: done
    text_changes()
    with pytest.raises(ConfigError) as raised:
        runner.execute(run)
    assert raised.value.field == "sweep.results_dir" and "its result there comes from corpus" in str(raised.value)
    assert runner.execute(run, force=True).action == "trained"
    assert store.read_run(store.run_path(tmp_path, run.run_id))[1]["corpus_fingerprint"] == "f" * 64


def test_a_checkpoint_of_other_text_is_refused_not_resumed(run_config, tmp_path, text_changes):
    run = resolve(run_config(tmp_path))
    with pytest.raises(RunInterrupted):
        runner.execute(run, stop_after_step=10)
    assert checkpoint_path(tmp_path, run.run_id).exists()
    text_changes()
    with pytest.raises(ConfigError) as raised:
        runner.execute(run)
    assert f"the saved state {checkpoint_path(tmp_path, run.run_id)} there comes from corpus" in str(raised.value)
    assert not store.run_path(tmp_path, run.run_id).exists()
    assert list((tmp_path / "claims").iterdir()) == []


def test_a_checkpoint_from_before_fingerprints_names_the_file_to_delete(run_config, tmp_path):
    import torch

    run = resolve(run_config(tmp_path))
    with pytest.raises(RunInterrupted):
        runner.execute(run, stop_after_step=10)
    ckpt = checkpoint_path(tmp_path, run.run_id)
    saved = torch.load(ckpt, weights_only=False)
    del saved["corpus_fingerprint"]
    torch.save(saved, ckpt)
    with pytest.raises(ConfigError) as raised:
        runner.execute(run)
    assert f"its checkpoint {ckpt} was written before checkpoints recorded their corpus" in str(raised.value)
    ckpt.unlink()
    assert runner.execute(run).action == "trained"
