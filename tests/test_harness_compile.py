"""train.compile: a compiled run trains, checkpoints and resumes like an eager one, to the same losses."""

import json

import pytest
import torch
from torch._dynamo.utils import counters

from harness import store
from harness.device import compiled
from harness.resolve import resolve
from harness.runner import execute
from harness.trainer import RunInterrupted, Trainer

pytestmark = pytest.mark.slow  # trains real (tiny) models and compiles one (about 10 s on 2 cores)

STOP_AFTER_STEP = 25  # of 64, as in test_harness_resume
# torch.compile fuses and reorders fp32 arithmetic, so a compiled run is not bit-identical to the eager one:
# over the 64 steps of this tiny run the losses differ by at most 3e-7 relative (measured, 2-core CPU).
# The bound leaves 30x room for other CPUs' kernels; one step of training moves this run's train loss by
# 0.5-1.5% around steps 10-20 (its curve), so a skipped or repeated step is far outside it.
COMPILED_VS_EAGER_REL = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_config):
    """The tiny run eager, straight through; and compiled, interrupted, then resumed compiled."""
    eager_dir, compiled_dir = tmp_path_factory.mktemp("eager"), tmp_path_factory.mktemp("compiled")
    eager = resolve(run_config(eager_dir))
    compiled = resolve(run_config(compiled_dir, "train.compile=default"))
    with pytest.raises(RunInterrupted):
        execute(compiled, stop_after_step=STOP_AFTER_STEP)
    step_models, graphs_before = [], counters["stats"]["unique_graphs"]
    with pytest.MonkeyPatch.context() as patch:
        original = Trainer._step
        patch.setattr(Trainer, "_step", lambda self, step: step_models.append(type(self.step_model).__name__)
                      or original(self, step))
        compiled_path = execute(compiled).path
    graphs_compiled = counters["stats"]["unique_graphs"] - graphs_before
    return {"eager": store.read_run(execute(eager).path), "compiled": store.read_run(compiled_path),
            "step_models": set(step_models), "graphs_compiled": graphs_compiled, "ids": (eager.run_id, compiled.run_id)}


def test_compiled_steps_run_through_the_compiled_module(runs):
    assert runs["step_models"] == {"OptimizedModule"}
    assert runs["graphs_compiled"] >= 1  # dynamo really captured the model, not an eager fallback


def test_each_run_compiles_afresh_so_a_sweep_never_reaches_the_recompile_limit(monkeypatch):
    resets = []
    monkeypatch.setattr(torch.compiler, "reset", lambda: resets.append(1))
    compiled(torch.nn.Linear(2, 2), "default")
    assert resets == [1]
    model = torch.nn.Linear(2, 2)
    assert compiled(model, "none") is model and resets == [1]


def test_compiled_run_keeps_the_run_id_and_records_its_mode(runs):
    eager_id, compiled_id = runs["ids"]
    assert compiled_id == eager_id
    assert json.loads(runs["compiled"][1]["config_json"])["train"]["compile"] == "default"
    assert json.loads(runs["eager"][1]["config_json"])["train"]["compile"] == "none"


def test_resumed_compiled_run_ends_at_the_eager_runs_losses(runs):
    eager, compiled = runs["eager"], runs["compiled"]
    assert compiled[0]["step"].tolist() == eager[0]["step"].tolist()
    assert compiled[1]["final_test_loss"] == pytest.approx(eager[1]["final_test_loss"], rel=COMPILED_VS_EAGER_REL)
    assert compiled[0]["train_loss"].tolist() == pytest.approx(eager[0]["train_loss"].tolist(),
                                                               rel=COMPILED_VS_EAGER_REL)
    test = eager[0]["test_loss"].notna()
    assert compiled[0]["test_loss"][test].tolist() == pytest.approx(eager[0]["test_loss"][test].tolist(),
                                                                    rel=COMPILED_VS_EAGER_REL)
