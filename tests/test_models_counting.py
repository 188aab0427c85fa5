"""Parameter counting: the module's real parameters against Kaplan et al. (2020)'s closed form."""

import dataclasses

import pytest
import torch

from models import (
    GPT,
    GPTConfig,
    bias_and_layernorm_params,
    count_params,
    kaplan_non_embedding_params,
    non_embedding_params,
    param_counts_from_config,
)

SHAPES = [
    dict(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50),
    dict(n_layer=3, d_model=48, n_head=6, n_ctx=24, vocab_size=97, d_ff=100),
    dict(n_layer=1, d_model=64, n_head=2, n_ctx=8, vocab_size=33, tie_embeddings=False),
    dict(n_layer=4, d_model=40, n_head=5, n_ctx=12, vocab_size=71, d_ff=64, tie_embeddings=False),
]


def gpt2_small(**overrides) -> GPTConfig:
    """GPT-2 small (Radford et al. 2019): 12 layers, 768 wide, 12 heads, 1024 context."""
    shape = dict(n_layer=12, d_model=768, n_head=12, n_ctx=1024, vocab_size=50257, d_ff=3072)
    return GPTConfig(**{**shape, **overrides})


def build_on_meta(cfg: GPTConfig) -> GPT:
    """Build without allocating or initialising memory: counting only needs shapes."""
    with torch.device("meta"):
        return GPT(cfg)


def test_gpt2_small_closed_form_is_84_934_656():
    assert kaplan_non_embedding_params(n_layer=12, d_model=768, d_attn=768, d_ff=3072) == 84_934_656


def test_closed_form_is_12_n_layer_d_model_squared_at_default_widths():
    assert kaplan_non_embedding_params(6, 256, 256, 1024) == 12 * 6 * 256**2


def test_gpt2_small_module_has_124_439_808_params_and_85_056_000_non_embedding():
    counts = count_params(build_on_meta(gpt2_small()))
    assert counts.total == 124_439_808  # GPT-2 small as released, tied head
    assert counts.token_embedding == 50257 * 768
    assert counts.position_embedding == 1024 * 768
    assert counts.non_embedding == 85_056_000  # 84,934,656 weights + 121,344 biases and LayerNorms


def test_small_shape_non_embedding_count_by_hand():
    cfg = GPTConfig(**SHAPES[0])
    # closed form 2*32*2*(2*32 + 128) = 24,576; biases/LN 2*(96 + 32 + 128 + 32 + 128) + 64 = 896
    assert bias_and_layernorm_params(cfg) == 896
    assert count_params(GPT(cfg)).non_embedding == 25_472


@pytest.mark.parametrize("shape", SHAPES)
def test_module_non_embedding_is_closed_form_plus_biases_and_layernorms_exactly(shape):
    cfg = GPTConfig(**shape)
    closed_form = kaplan_non_embedding_params(cfg.n_layer, cfg.d_model, cfg.d_attn, cfg.d_ff)
    assert count_params(GPT(cfg)).non_embedding == closed_form + bias_and_layernorm_params(cfg)


@pytest.mark.parametrize("shape", SHAPES)
def test_counts_from_config_equal_counts_from_module(shape):
    cfg = GPTConfig(**shape)
    assert param_counts_from_config(cfg) == count_params(GPT(cfg))
    assert non_embedding_params(cfg) == count_params(GPT(cfg)).non_embedding


def test_tied_model_has_no_output_head_params():
    counts = count_params(GPT(GPTConfig(**SHAPES[0])))
    assert counts.output_head == 0
    assert counts.embedding == 50 * 32 + 16 * 32
    assert counts.total == 25_472 + 50 * 32 + 16 * 32  # the shared matrix is counted once


def test_untied_output_head_is_d_model_times_vocab_and_counted_as_embedding():
    tied = count_params(GPT(GPTConfig(**SHAPES[0])))
    untied = count_params(GPT(GPTConfig(**SHAPES[0], tie_embeddings=False)))
    assert untied.output_head == 32 * 50
    assert untied.embedding == tied.embedding + 32 * 50
    assert untied.total == tied.total + 32 * 50
    assert untied.non_embedding == tied.non_embedding == 25_472


def test_param_counts_carry_all_six_fields_through_asdict():
    fields = dataclasses.asdict(count_params(GPT(GPTConfig(**SHAPES[0]))))
    assert fields == dict(total=27_584, token_embedding=1600, position_embedding=512,
                          output_head=0, embedding=2112, non_embedding=25_472)
