"""GPT model, parameter counting and FLOP accounting. Pure PyTorch: a config in, a module out."""

from models.config import GPTConfig
from models.counting import (
    ParamCounts,
    bias_and_layernorm_params,
    count_params,
    kaplan_non_embedding_params,
    non_embedding_params,
    param_counts_from_config,
)
from models.flops import (
    TRAIN_FLOPS_PER_TOKEN,
    ForwardFlops,
    flops_per_token_6n,
    flops_per_token_6n_logits,
    flops_per_token_fwd_exact,
    flops_per_token_fwd_kaplan,
    flops_per_token_palm,
    flops_per_token_train_exact,
    forward_flops_breakdown,
)
from models.gpt import GPT

__all__ = [
    "GPT",
    "GPTConfig",
    "ParamCounts",
    "count_params",
    "param_counts_from_config",
    "kaplan_non_embedding_params",
    "bias_and_layernorm_params",
    "non_embedding_params",
    "ForwardFlops",
    "forward_flops_breakdown",
    "flops_per_token_fwd_kaplan",
    "flops_per_token_6n",
    "flops_per_token_6n_logits",
    "flops_per_token_palm",
    "flops_per_token_fwd_exact",
    "flops_per_token_train_exact",
    "TRAIN_FLOPS_PER_TOKEN",
]
