"""Model families (gpt2, llama, lstm): parameter counts by hand, the forward contract, bad shapes, run ids."""

import pytest
import torch

from configs.errors import ConfigError
from configs.model import ModelConfig
from harness.resolve import resolve
from models import (
    FAMILIES,
    GPTConfig,
    LSTMLM,
    Llama,
    build_model,
    closed_form_non_embedding_params,
    count_params,
    non_embedding_params,
    param_counts_from_config,
)
from models.lstm import lstm_unfused


def small(family: str, **overrides) -> GPTConfig:
    """2 layers x 32 wide, context 16, vocabulary 50; llama's d_ff is configs' 8/3 x 32 rounded up to 88."""
    shape = dict(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50, family=family)
    shape.update({"llama": {"d_ff": 88}, "lstm": {"n_head": None}}.get(family, {}))
    return GPTConfig(**{**shape, **overrides})


def test_llama_n_is_4_d_d_attn_plus_3_d_d_ff_per_layer_plus_rms_norms():
    # 2 x (4*32*32 + 3*32*88) = 25,088 weights; RMSNorm weights (2*2 + 1) x 32 = 160; no biases.
    cfg = small("llama")
    assert closed_form_non_embedding_params(cfg) == 25_088
    assert non_embedding_params(cfg) == count_params(Llama(cfg)).non_embedding == 25_248


def test_lstm_n_is_8_n_layer_d_model_squared_plus_two_gate_biases():
    # 2 x 8 x 32^2 = 16,384 input and recurrent weights; b_ih + b_hh = 2 x 4 x 32 per layer = 512.
    cfg = small("lstm")
    assert closed_form_non_embedding_params(cfg) == 16_384
    assert non_embedding_params(cfg) == count_params(LSTMLM(cfg)).non_embedding == 16_896


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tie", [True, False])
def test_counts_from_the_config_equal_the_module(family, tie):
    cfg = small(family, tie_embeddings=tie)
    assert param_counts_from_config(cfg) == count_params(build_model(cfg))


@pytest.mark.parametrize("family", ["llama", "lstm"])
def test_only_gpt2_has_a_position_embedding_to_exclude(family):
    counts = count_params(build_model(small(family, tie_embeddings=False)))
    assert counts.position_embedding == 0
    assert counts.embedding == 2 * 50 * 32  # token embedding + untied head


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_returns_logits_and_mean_cross_entropy(family):
    torch.manual_seed(0)
    model = build_model(small(family))
    idx, targets = torch.randint(0, 50, (2, 3, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 16, 50)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), targets.reshape(-1))
    assert float(loss.detach()) == pytest.approx(float(expected.detach()))
    assert abs(float(loss.detach()) - torch.log(torch.tensor(50.0)).item()) < 0.2  # near uniform at init


@pytest.mark.parametrize("family", ["llama", "lstm"])
def test_position_t_sees_only_tokens_up_to_t(family):
    model = build_model(small(family)).eval()
    idx = torch.randint(0, 50, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (idx[0, 10:] + 1) % 50
    assert torch.allclose(model(idx)[0][:, :10], model(changed)[0][:, :10], atol=1e-6)
    assert (model(idx)[0][:, 10:] - model(changed)[0][:, 10:]).abs().max() > 1e-5


def test_unfused_lstm_computes_the_fused_output():
    torch.manual_seed(0)
    model = LSTMLM(small("lstm", n_layer=3))
    x = torch.randn(2, 7, 32)
    fused, _ = model.lstm(x)
    assert torch.allclose(lstm_unfused(model.lstm, x), fused, atol=1e-5)


def test_llama_d_ff_is_two_thirds_of_four_d_model_rounded_up_to_a_multiple_of_8():
    assert ModelConfig(family="llama", d_model=64).d_ff == 176  # 8/3 x 64 = 170.7
    assert ModelConfig(family="llama", d_model=96).d_ff == 256  # 8/3 x 96 = 256 exactly
    assert ModelConfig(family="llama", d_model=48, d_head=16).d_ff == 128  # 8/3 x 48 = 128 exactly
    assert ModelConfig(family="lstm").d_ff == 0


@pytest.mark.parametrize("fields, field", [
    (dict(family="mamba"), "model.family"),
    (dict(family="lstm", n_head=2), "model.n_head"),
    (dict(family="llama", d_model=64, n_head=3), "model.n_head"),
    (dict(family="llama", d_model=48, n_head=16), "model.n_head"),  # head width 3: rotary needs pairs
])
def test_a_shape_a_family_cannot_build_names_the_field(fields, field):
    with pytest.raises(ConfigError) as raised:
        ModelConfig(**fields)
    assert raised.value.field == field


def test_a_gpt2_run_keeps_its_id_and_another_family_changes_it(run_config, tmp_path):
    default = resolve(run_config(tmp_path))
    assert resolve(run_config(tmp_path, "model.family=gpt2")).run_id == default.run_id
    ids = {resolve(run_config(tmp_path, f"model.family={f}")).run_id for f in FAMILIES}
    assert len(ids) == 3
