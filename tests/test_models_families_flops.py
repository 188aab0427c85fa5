"""FLOPs per token of llama and lstm: hand-computed numbers, and the matmul count against torch's FLOP counter."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from models import (
    GPTConfig,
    LSTMLM,
    Llama,
    flops_per_token_6n,
    flops_per_token_fwd_exact,
    flops_per_token_fwd_kaplan,
    flops_per_token_palm,
    forward_flops_breakdown,
)
from models.lstm import lstm_unfused

# 2 x 32, context 16, vocabulary 50: llama N = 25,248 (d_ff 88), lstm N = 16,896 (tests/test_models_families.py).
LLAMA = GPTConfig(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50, d_ff=88, family="llama")
LSTM = GPTConfig(n_layer=2, d_model=32, n_head=None, n_ctx=16, vocab_size=50, family="lstm")
LLAMA_SHAPES = [LLAMA, GPTConfig(n_layer=3, d_model=64, n_head=4, n_ctx=64, vocab_size=257, d_ff=176,
                                 family="llama", tie_embeddings=False)]
LSTM_SHAPES = [LSTM, GPTConfig(n_layer=3, d_model=48, n_head=None, n_ctx=24, vocab_size=97, family="lstm",
                               tie_embeddings=False)]


def _counted(forward, cfg: GPTConfig, backward: bool, batch: int = 2) -> float:
    """FlopCounterMode's total for forward(idx) on one full-context batch (plus its backward), per token."""
    idx = torch.randint(0, cfg.vocab_size, (batch, cfg.n_ctx))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:  # MATH: the fused CPU attention kernel is not counted
        logits = forward(idx)
        if backward:
            torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), idx.reshape(-1)).backward()
    return counter.get_total_flops() / (batch * cfg.n_ctx)


def counted_llama(cfg: GPTConfig, backward: bool = False) -> float:
    torch.manual_seed(0)
    model = Llama(cfg)
    return _counted(lambda idx: model(idx)[0], cfg, backward)


def counted_lstm_unfused(cfg: GPTConfig, backward: bool = False) -> float:
    """The LSTM counted through lstm_unfused: the counter sees nothing of the fused aten.lstm kernel."""
    torch.manual_seed(0)
    model = LSTMLM(cfg)
    return _counted(lambda idx: model.lm_head(lstm_unfused(model.lstm, model.wte(idx))), cfg, backward)


def test_llama_conventions_of_the_small_shape_by_hand():
    assert flops_per_token_6n(LLAMA) == 6 * 25_248
    assert flops_per_token_fwd_kaplan(LLAMA) == 2 * 25_248 + 2 * 2 * 16 * 32
    assert flops_per_token_palm(LLAMA) == 6 * 25_248 + 12 * 2 * 16 * 32


def test_llama_exact_forward_of_small_shape_is_61_056():
    # embeddings 3200 + qkv 12288 + QK 2048 + softmax 384 + AV 2048 + out 4096
    # + SwiGLU 2 x 2 x 3 x 32 x 88 = 33792 + logits 3200 (Hoffmann 2022 app. F with three MLP matrices)
    assert flops_per_token_fwd_exact(LLAMA) == 61_056


def test_lstm_conventions_have_no_attention_term():
    assert flops_per_token_6n(LSTM) == flops_per_token_palm(LSTM) == 6 * 16_896
    assert flops_per_token_fwd_kaplan(LSTM) == 2 * 16_896


def test_lstm_exact_forward_of_small_shape_is_39_168():
    # embeddings 3200 + recurrent 2 x (2 x 8 x 32^2) = 32768 + logits 3200; no attention terms
    breakdown = forward_flops_breakdown(LSTM)
    assert breakdown.attn_qkv == breakdown.attn_logits == breakdown.mlp == 0
    assert flops_per_token_fwd_exact(LSTM) == 39_168


@pytest.mark.parametrize("cfg", LLAMA_SHAPES)
def test_llama_forward_matmuls_match_torch_flop_counter(cfg):
    assert counted_llama(cfg) == pytest.approx(forward_flops_breakdown(cfg).matmul, rel=0.01)


@pytest.mark.parametrize("cfg", LLAMA_SHAPES)
def test_llama_forward_plus_backward_is_three_forward_matmuls(cfg):
    assert counted_llama(cfg, backward=True) == pytest.approx(3 * forward_flops_breakdown(cfg).matmul, rel=0.03)


def test_torch_flop_counter_does_not_see_the_fused_lstm_kernel():
    model = LSTMLM(LSTM)
    assert _counted(lambda idx: model(idx)[0], LSTM, backward=False) == 2 * 32 * 50  # the head alone


@pytest.mark.parametrize("cfg", LSTM_SHAPES)
def test_lstm_unfused_matmuls_match_torch_flop_counter(cfg):
    assert counted_lstm_unfused(cfg) == pytest.approx(forward_flops_breakdown(cfg).matmul, rel=0.01)


@pytest.mark.parametrize("cfg", LSTM_SHAPES)
def test_lstm_unfused_forward_plus_backward_is_three_forward_matmuls(cfg):
    expected = 3 * forward_flops_breakdown(cfg).matmul
    assert counted_lstm_unfused(cfg, backward=True) == pytest.approx(expected, rel=0.03)
