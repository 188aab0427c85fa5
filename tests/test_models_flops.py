"""FLOP conventions: hand-computed numbers, and the exact count against torch's FLOP counter."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from models import (
    GPT,
    TRAIN_FLOPS_PER_TOKEN,
    GPTConfig,
    flops_per_token_6n,
    flops_per_token_6n_logits,
    flops_per_token_fwd_exact,
    flops_per_token_fwd_kaplan,
    flops_per_token_palm,
    flops_per_token_train_exact,
    forward_flops_breakdown,
)
from harness.store import COMPUTE_CONVENTIONS

# n_layer=2, d_model=32, n_ctx=16, vocab=50, d_ff=128: N = 24,576 + 896 = 25,472 (module count).
SMALL = GPTConfig(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50)

COUNTER_SHAPES = [
    GPTConfig(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50),
    GPTConfig(n_layer=3, d_model=64, n_head=8, n_ctx=64, vocab_size=257, d_ff=96),
    GPTConfig(n_layer=1, d_model=48, n_head=3, n_ctx=128, vocab_size=31, tie_embeddings=False),
]


def counted_flops_per_token(cfg: GPTConfig, backward: bool = False, batch: int = 2) -> float:
    """FlopCounterMode's total for one full-context batch, divided by the tokens in it.

    The fused CPU attention kernel (_scaled_dot_product_flash_attention_for_cpu) has no FLOP
    formula registered in torch's counter, so it would count attention as zero. The MATH backend
    runs the same computation as explicit bmm ops, which the counter does count: the full
    n_ctx x n_ctx square, masked positions included.
    """
    torch.manual_seed(0)
    model = GPT(cfg)
    idx = torch.randint(0, cfg.vocab_size, (batch, cfg.n_ctx))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        _, loss = model(idx, idx)
        if backward:
            loss.backward()
    return counter.get_total_flops() / (batch * cfg.n_ctx)


def test_6n_of_small_shape_is_152_832():
    assert flops_per_token_6n(SMALL) == 6 * 25_472


def test_kaplan_forward_of_small_shape_is_2n_plus_2_n_layer_n_ctx_d_attn():
    assert flops_per_token_fwd_kaplan(SMALL) == 2 * 25_472 + 2 * 2 * 16 * 32


def test_6n_logits_of_small_shape_adds_six_d_model_vocab():
    assert flops_per_token_6n_logits(SMALL) == 6 * (25_472 + 32 * 50)


def test_palm_of_small_shape_adds_12_n_layer_n_ctx_d_model():
    assert flops_per_token_palm(SMALL) == 6 * 25_472 + 12 * 2 * 16 * 32


def test_exact_forward_of_small_shape_is_60_032():
    # embeddings 3200 + qkv 12288 + QK 2048 + softmax 384 + AV 2048 + out 4096 + mlp 32768
    # + logits 3200 (Hoffmann 2022 app. F, by hand)
    assert flops_per_token_fwd_exact(SMALL) == 60_032


def test_causal_halving_charges_the_average_context_of_8_5_tokens():
    # QK and AV: 2 * 2*8.5*32 each = 2176; softmax 2*3*4*8.5 = 204 (instead of 4096 and 384)
    assert flops_per_token_fwd_exact(SMALL, causal_halving=True) == 60_032 - 4096 - 384 + 2176 + 204


def test_exact_training_is_three_forwards():
    assert flops_per_token_train_exact(SMALL) == 3 * 60_032


def test_train_flops_table_has_the_architecture_doc_keys():
    assert TRAIN_FLOPS_PER_TOKEN == {
        "6n": flops_per_token_6n,
        "6n_logits": flops_per_token_6n_logits,
        "palm": flops_per_token_palm,
        "exact": flops_per_token_train_exact,
    }
    assert tuple(TRAIN_FLOPS_PER_TOKEN) == COMPUTE_CONVENTIONS  # the curve columns and analysis use these


@pytest.mark.parametrize("cfg", COUNTER_SHAPES)
def test_exact_forward_matmuls_match_torch_flop_counter(cfg):
    # The counter sees matmuls only: not the embedding (a gather in PyTorch, which Chinchilla
    # charges as a one-hot matmul), not the softmax or other elementwise ops. So compare it with
    # the matmul terms; biases are not counted on either side.
    expected = forward_flops_breakdown(cfg).matmul
    assert counted_flops_per_token(cfg) == pytest.approx(expected, rel=0.01)


def test_torch_counts_causal_attention_as_the_full_square_not_the_half():
    cfg = COUNTER_SHAPES[2]  # long context relative to width, so the halving matters by > 1%
    halved = forward_flops_breakdown(cfg, causal_halving=True).matmul
    assert counted_flops_per_token(cfg) != pytest.approx(halved, rel=0.01)
    assert counted_flops_per_token(cfg) == pytest.approx(forward_flops_breakdown(cfg).matmul)


@pytest.mark.parametrize("cfg", COUNTER_SHAPES)
def test_forward_plus_backward_is_three_forward_matmuls(cfg):
    expected = 3 * forward_flops_breakdown(cfg).matmul
    assert counted_flops_per_token(cfg, backward=True) == pytest.approx(expected, rel=0.03)
