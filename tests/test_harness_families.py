"""llama and lstm train, resume and record like gpt2; every family records its loss by position in context."""

import json

import pytest

from harness import store
from harness.resolve import resolve
from harness.runner import execute
from harness.trainer import RunInterrupted
from models import flops_per_token_6n, non_embedding_params

pytestmark = pytest.mark.slow  # trains real (tiny) models

STOP_AFTER_STEP = 25  # of TINY_RUN's 64 steps
N_CTX = 64  # TINY_RUN's context
# The lstm trains at the rate the families preset calibrated for it (docs/families.md), as it would there.
FAMILY_OVERRIDES = {"llama": (), "lstm": ("train.lr_rule=fixed", "train.lr=0.03")}


@pytest.fixture(scope="module", params=["llama", "lstm"])
def family_runs(request, tmp_path_factory, run_config):
    """(family, straight (curve, meta), resumed (curve, meta)) of TINY_RUN in that family."""
    family = request.param
    straight_dir, resumed_dir = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    overrides = (f"model.family={family}", *FAMILY_OVERRIDES[family])
    straight, resumed = resolve(run_config(straight_dir, *overrides)), resolve(run_config(resumed_dir, *overrides))
    with pytest.raises(RunInterrupted):
        execute(resumed, stop_after_step=STOP_AFTER_STEP)
    return family, store.read_run(execute(straight).path), store.read_run(execute(resumed).path), straight


def test_family_run_completes_and_records_its_family(family_runs):
    family, (_, meta), _, _ = family_runs
    assert (meta["status"], meta["family"]) == ("completed", family)


def test_family_run_records_n_and_flops_of_its_module(family_runs):
    _, (curve, meta), _, run = family_runs
    assert meta["params_non_embedding"] == non_embedding_params(run.gpt)
    assert meta["flops_per_token_6n"] == flops_per_token_6n(run.gpt) == 6 * meta["params_non_embedding"]
    assert curve["compute_6n"].iloc[-1] == 6 * meta["params_non_embedding"] * meta["tokens"]


def test_family_run_learns(family_runs):
    _, (curve, meta), _, _ = family_runs
    first = curve["test_loss"].dropna().iloc[0]
    assert meta["final_test_loss"] < first - 0.5  # nats, from about ln(384) = 5.95 at init


def test_resumed_family_run_equals_the_uninterrupted_one(family_runs):
    _, (straight_curve, straight), (resumed_curve, resumed), _ = family_runs
    assert resumed["final_test_loss"] == straight["final_test_loss"]  # fp32 on the CPU: exactly
    for column in ("train_loss", "test_loss", "lr"):
        assert resumed_curve[column].fillna(-1).tolist() == straight_curve[column].fillna(-1).tolist()
    assert resumed["final_test_loss_by_position_json"] == straight["final_test_loss_by_position_json"]


def test_loss_by_position_has_one_value_per_position_and_averages_to_the_final_loss(family_runs):
    _, (_, meta), _, _ = family_runs
    by_position = json.loads(meta["final_test_loss_by_position_json"])
    assert len(by_position) == N_CTX
    assert sum(by_position) / N_CTX == pytest.approx(meta["final_test_loss"], rel=1e-5)
    assert len(set(by_position)) == N_CTX  # one mean per position, not one number repeated
