"""Models of every family (gpt2, llama, lstm), parameter counting and FLOP accounting.

Pure PyTorch: a config in, a module out.
"""

from models.config import FAMILIES, GPTConfig
from models.counting import (
    ParamCounts,
    bias_and_layernorm_params,
    closed_form_non_embedding_params,
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
from models.families import build_model
from models.gpt import GPT
from models.llama import Llama
from models.lstm import LSTMLM

__all__ = [
    "GPT",
    "Llama",
    "LSTMLM",
    "build_model",
    "FAMILIES",
    "GPTConfig",
    "closed_form_non_embedding_params",
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
