"""One run end to end, in process: config -> training -> runs/<run_id>.parquet as docs/architecture.md specifies."""

import json
import logging
import math

import numpy as np
import pytest

from harness import store
from harness.units import run_config as execute_config

pytestmark = pytest.mark.slow  # trains real (tiny) models

# docs/architecture.md, "Curve columns".
CURVE_COLUMNS = ["run_id", "step", "tokens", "compute_6n", "compute_6n_logits", "compute_palm", "compute_exact",
                 "train_loss", "test_loss", "lr", "elapsed_s"]
# docs/architecture.md, "Run metadata".
METADATA_KEYS = [
    "run_id", "status", "diverged_step", "schema_version", "family", "n_layer", "d_model", "n_head", "d_ff", "n_ctx",
    "vocab_size", "tie_embeddings", "params_non_embedding", "params_total", "params_embedding",
    "params_token_embedding", "params_position_embedding", "params_output_head",
    "params_non_embedding_closed_form", "flops_per_token_fwd_kaplan", "flops_per_token_6n",
    "flops_per_token_6n_logits", "flops_per_token_palm", "flops_per_token_exact", "tokens", "batch_size", "lr",
    "lr_rule", "seed", "corpus", "corpus_fingerprint", "corpus_entropy_rate_nats", "corpus_skipped_files", "epochs",
    "device", "torch_version", "final_test_loss", "final_test_loss_sem",
    "final_test_loss_by_position_json", "best_test_loss", "wall_time_s",
    "tokens_requested", "steps", "warmup_steps", "grid", "compute_budget", "preset", "config_json",
]
FLOP_CONVENTIONS = ["6n", "6n_logits", "palm", "exact"]
STEPS = 64  # TINY_RUN: 32768 tokens / (8 sequences x 64 tokens)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, run_config):
    """(result, curve, metadata) of TINY_RUN trained once for this module."""
    results = tmp_path_factory.mktemp("results")
    logger, handler = logging.getLogger("scalinglab"), ListHandler()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        result = execute_config(run_config(results))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    curve, meta = store.read_run(result.path)
    FINISHED_LOG[:] = handler.messages
    return result, curve, meta


FINISHED_LOG: list[str] = []


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_derived_values_are_logged_when_training_starts(finished):
    _, _, meta = finished
    line = next(m for m in FINISHED_LOG if "peak lr" in m)
    assert (f"n_head {meta['n_head']}, d_ff {meta['d_ff']}, peak lr {meta['lr']:.3g}, batch {meta['batch_size']} x "
            f"{meta['n_ctx']} tokens, {meta['steps']} steps ({meta['warmup_steps']} warm-up)") in line


def test_run_writes_its_parquet_under_runs_named_by_run_id(finished):
    result, _, meta = finished
    assert result.action == "trained"
    assert result.path.name == f"{result.run_id}.parquet"
    assert result.path.parent.name == "runs"
    assert meta["run_id"] == result.run_id


def test_curve_has_exactly_the_documented_columns(finished):
    _, curve, _ = finished
    assert list(curve.columns) == CURVE_COLUMNS


def test_metadata_has_every_documented_key(finished):
    _, _, meta = finished
    assert [k for k in METADATA_KEYS if k not in meta] == []


def test_run_is_completed_with_the_resolved_shape(finished):
    _, _, meta = finished
    assert (meta["status"], meta["diverged_step"]) == ("completed", -1)
    assert (meta["n_layer"], meta["d_model"], meta["n_head"], meta["d_ff"], meta["n_ctx"]) == (2, 32, 2, 128, 64)
    assert meta["vocab_size"] == 384
    # Kaplan 2020 N = 12 n_layer d_model^2 with d_ff = 4 d_model, plus LayerNorm and bias terms.
    assert meta["params_non_embedding_closed_form"] == 12 * 2 * 32**2
    assert meta["params_non_embedding"] == 25_472


def test_curve_has_at_least_20_finite_test_losses(finished):
    _, curve, _ = finished
    assert np.isfinite(curve["test_loss"]).sum() >= 20


def test_final_row_is_the_last_step_and_has_a_test_loss(finished):
    _, curve, meta = finished
    last = curve.iloc[-1]
    assert (last["step"], last["tokens"]) == (STEPS, 32_768)
    assert (meta["steps"], meta["tokens"]) == (STEPS, 32_768)
    assert math.isfinite(last["test_loss"])
    assert meta["final_test_loss"] == last["test_loss"]
    assert meta["best_test_loss"] == curve["test_loss"].min()


def test_test_loss_falls_by_more_than_half_a_nat(finished):
    _, curve, _ = finished
    tests = curve["test_loss"].dropna().to_numpy()
    # The first point is near the uniform guess ln(384) = 5.95 nats; 64 steps bring it below 5.2.
    assert tests[0] == pytest.approx(math.log(384), abs=0.2)
    assert tests[-1] < tests[0] - 0.5


def test_tokens_are_steps_times_batch_times_context(finished):
    _, curve, _ = finished
    assert (curve["tokens"] == curve["step"] * 8 * 64).all()
    assert curve["step"].is_monotonic_increasing and curve["step"].is_unique


@pytest.mark.parametrize("convention", FLOP_CONVENTIONS)
def test_compute_column_is_flops_per_token_times_tokens(finished, convention):
    _, curve, meta = finished
    expected = meta[f"flops_per_token_{convention}"] * curve["tokens"].astype(float)
    np.testing.assert_allclose(curve[f"compute_{convention}"], expected, rtol=1e-12)


def test_kaplan_compute_is_six_n_d(finished):
    _, curve, meta = finished
    assert meta["flops_per_token_6n"] == 6 * 25_472
    assert curve["compute_6n"].iloc[-1] == 6 * 25_472 * 32_768


def test_lr_is_kaplan_rule_and_decays_to_zero_at_the_last_step(finished):
    _, curve, meta = finished
    assert meta["lr"] == pytest.approx(0.003239 - 0.0001395 * math.log(25_472), rel=1e-12)
    assert meta["warmup_steps"] == 3  # round(0.05 * 64)
    assert curve["lr"].iloc[-1] == 0.0
    assert curve["lr"].max() <= meta["lr"]


def test_finished_run_leaves_no_checkpoint_claim_or_temp_file(finished):
    result, _, _ = finished
    results_dir = result.path.parent.parent
    leftovers = [p.relative_to(results_dir).as_posix() for p in results_dir.rglob("*") if p.is_file()]
    assert leftovers == [f"runs/{result.run_id}.parquet"]


def test_second_execution_skips_the_finished_run(finished, run_config):
    result, _, _ = finished
    again = execute_config(run_config(result.path.parent.parent))
    assert (again.action, again.run_id, again.path) == ("skipped", result.run_id, result.path)


def test_loss_by_position_is_recorded_and_averages_to_the_final_loss(finished):
    _, _, meta = finished
    by_position = json.loads(meta["final_test_loss_by_position_json"])
    assert len(by_position) == 64  # TINY_RUN's n_ctx
    assert sum(by_position) / 64 == pytest.approx(meta["final_test_loss"], rel=1e-5)
