"""The GPT module: shapes, causality, init, config validation, and that it can learn."""

import math
import time

import pytest
import torch

from models import GPT, GPTConfig

TINY = dict(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50)


def test_forward_returns_logits_per_position_and_a_scalar_loss():
    torch.manual_seed(0)
    idx = torch.randint(0, 50, (3, 16))
    logits, loss = GPT(GPTConfig(**TINY))(idx, idx)
    assert logits.shape == (3, 16, 50)
    assert loss.shape == ()


def test_loss_on_random_targets_at_init_is_close_to_log_vocab_nats():
    torch.manual_seed(0)
    idx, targets = torch.randint(0, 50, (2, 8, 16))
    _, loss = GPT(GPTConfig(**TINY))(idx, targets)
    assert loss.item() == pytest.approx(math.log(50), abs=0.1)  # near-uniform prediction


def test_forward_without_targets_returns_no_loss():
    _, loss = GPT(GPTConfig(**TINY))(torch.zeros(1, 4, dtype=torch.long))
    assert loss is None


def test_changing_a_future_token_leaves_earlier_logits_unchanged():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY)).eval()
    idx = torch.randint(0, 50, (1, 16))
    changed = idx.clone()
    changed[0, 10] = (idx[0, 10] + 1) % 50
    before, after = model(idx)[0], model(changed)[0]
    assert torch.equal(before[0, :10], after[0, :10])
    assert not torch.allclose(before[0, 10:], after[0, 10:])


def test_sequence_longer_than_n_ctx_raises():
    with pytest.raises(ValueError, match="n_ctx=16"):
        GPT(GPTConfig(**TINY))(torch.zeros(1, 17, dtype=torch.long))


def test_output_head_is_the_token_embedding_only_when_tied():
    tied = GPT(GPTConfig(**TINY))
    untied = GPT(GPTConfig(**TINY, tie_embeddings=False))
    assert tied.lm_head.weight is tied.wte.weight
    assert untied.lm_head.weight is not untied.wte.weight


def test_residual_projections_are_initialised_with_std_0_02_over_sqrt_2_n_layer():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=8, d_model=128, n_head=4, n_ctx=8, vocab_size=16))
    scaled = 0.02 / math.sqrt(2 * 8)
    assert model.blocks[0].attn.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert model.blocks[7].mlp.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert model.blocks[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.blocks[0].attn.c_attn.bias.abs().sum().item() == 0.0


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    idx = torch.randint(0, 50, (4, 17))
    x, y = idx[:, :-1], idx[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    for _ in range(200):
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5  # from ln(50) = 3.9 nats at init
    assert time.perf_counter() - start < 10


def test_d_ff_defaults_to_four_d_model_and_d_head_splits_d_attn():
    cfg = GPTConfig(**TINY)
    assert (cfg.d_ff, cfg.d_attn, cfg.d_head) == (128, 32, 8)


@pytest.mark.parametrize("field, value, message", [
    ("n_layer", 0, "n_layer=0: must be a positive integer"),
    ("d_model", -8, "d_model=-8: must be a positive integer"),
    ("n_head", 3, "n_head=3: d_model=32 must be divisible by n_head"),
    ("n_ctx", 0, "n_ctx=0: must be a positive integer"),
    ("vocab_size", 2.5, "vocab_size=2.5: must be a positive integer"),
    ("d_ff", 0, "d_ff=0: must be a positive integer"),
    ("dropout", 1.0, "dropout=1.0: must be in [0, 1)"),
])
def test_bad_config_value_raises_value_error_naming_the_field(field, value, message):
    with pytest.raises(ValueError) as err:
        GPTConfig(**{**TINY, field: value})
    assert str(err.value) == message
