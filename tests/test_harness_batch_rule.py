"""Batch size by rule: a fixed value, or Kaplan 2020's critical batch at the loss its L(N) predicts."""

import pytest

from configs.errors import ConfigError
from harness.resolve import kaplan_critical_batch_tokens, resolve


def test_critical_batch_at_one_million_parameters_by_hand():
    # Kaplan 2020 eq. 1.1: L(1e6) = (8.8e13 / 1e6)^0.076 = 4.0159 nats;
    # eq. 1.4: B_crit = 2e8 / 4.0159^(1 / 0.21) = 2e8 / 750.1 = 2.666e5 tokens.
    loss = (8.8e13 / 1e6) ** 0.076
    assert loss == pytest.approx(4.0159, abs=1e-4)
    assert kaplan_critical_batch_tokens(1_000_000) == pytest.approx(2e8 / loss ** (1 / 0.21), rel=1e-12)
    assert kaplan_critical_batch_tokens(1_000_000) == pytest.approx(2.666e5, rel=1e-3)


def test_critical_batch_grows_with_model_size():
    assert kaplan_critical_batch_tokens(10**4) < kaplan_critical_batch_tokens(10**6) < kaplan_critical_batch_tokens(10**8)


def test_fixed_rule_uses_train_batch_size(run_config, tmp_path):
    run = resolve(run_config(tmp_path))  # TINY_RUN: batch 8 of 64 tokens
    assert run.batch_size == 8 and run.tokens_per_step == 512


def test_kaplan_rule_resolves_sequences_from_n_and_changes_steps_and_id(run_config, tmp_path):
    fixed = resolve(run_config(tmp_path, "train.tokens=2e6"))
    run = resolve(run_config(tmp_path, "train.tokens=2e6", "train.batch_rule=kaplan_bcrit"))
    expected = round(kaplan_critical_batch_tokens(run.params.non_embedding) / 64)
    assert run.batch_size == expected > 8
    assert run.tokens_per_step == expected * 64 and run.steps == round(2e6 / (expected * 64))
    assert run.run_id != fixed.run_id


def test_kaplan_rule_with_a_budget_below_one_critical_batch_names_the_rule(run_config, tmp_path):
    with pytest.raises(ConfigError, match="train.batch_rule=kaplan_bcrit"):
        resolve(run_config(tmp_path, "train.tokens=1000", "train.batch_rule=kaplan_bcrit"))


def test_unknown_batch_rule_is_rejected_naming_the_field(run_config, tmp_path):
    with pytest.raises(ConfigError, match="train.batch_rule"):
        run_config(tmp_path, "train.batch_rule=linear")
