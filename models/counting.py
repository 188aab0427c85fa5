"""Parameter counts of a GPT, from the module itself and from Kaplan et al. (2020)'s closed form.

Convention (Kaplan 2020 sec. 2.1): N, the model size in every scaling law here, is the number of
*non-embedding* parameters -- it excludes the token embedding, the position embedding and the
un-embedding (output head). Biases and LayerNorm parameters are part of N. The same definition
holds for every family: llama has no position embedding to exclude (rotary positions have no
parameters); for lstm N is the recurrent and input weights with their biases (Kaplan 2020 sec. 3.2.1).
"""

from dataclasses import dataclass, field

import torch.nn as nn

from models.config import GPTConfig
from models.lstm import LSTM_GATES


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one model, split the way the scaling laws need them."""

    total: int
    """Every distinct trainable parameter (a tied weight counted once)."""
    token_embedding: int
    """vocab_size * d_model."""
    position_embedding: int
    """n_ctx * d_model for gpt2; 0 for llama (rotary) and lstm (recurrent)."""
    output_head: int
    """d_model * vocab_size for an untied head; 0 when tied to the token embedding."""

    embedding: int = field(init=False)
    """Token + position embedding + untied output head."""
    non_embedding: int = field(init=False)
    """Kaplan 2020 sec. 2.1's N: total minus all embedding and un-embedding parameters."""

    def __post_init__(self):
        # Derived fields are stored (not properties) so dataclasses.asdict() carries all six.
        embedding = self.token_embedding + self.position_embedding + self.output_head
        object.__setattr__(self, "embedding", embedding)
        object.__setattr__(self, "non_embedding", self.total - embedding)


def count_params(model: nn.Module) -> ParamCounts:
    """Count a model's real parameters (any family); a weight shared by two modules counts once."""
    total = sum(p.numel() for p in model.parameters())  # parameters() already dedupes tied weights
    tied = model.lm_head.weight is model.wte.weight
    wpe = getattr(model, "wpe", None)  # only gpt2 learns a position embedding
    return ParamCounts(
        total=total,
        token_embedding=model.wte.weight.numel(),
        position_embedding=0 if wpe is None else wpe.weight.numel(),
        output_head=0 if tied else model.lm_head.weight.numel(),
    )


def kaplan_non_embedding_params(n_layer: int, d_model: int, d_attn: int, d_ff: int) -> int:
    """Kaplan 2020 Table 1 / eq. 2.1: N ~= 2 d_model n_layer (2 d_attn + d_ff), weights only."""
    return 2 * d_model * n_layer * (2 * d_attn + d_ff)  # Kaplan et al. 2020, Table 1 (eq. 2.1)


def bias_and_layernorm_params(cfg: GPTConfig) -> int:
    """Parameters of models.gpt.GPT that Kaplan's closed form leaves out: biases and LayerNorms.

    Per block: qkv bias (3 d_attn), attention out-proj bias (d_model), MLP biases (d_ff + d_model),
    two LayerNorms with weight and bias (4 d_model); plus the final LayerNorm (2 d_model).
    """
    per_block = 3 * cfg.d_attn + cfg.d_model + cfg.d_ff + cfg.d_model + 4 * cfg.d_model
    return cfg.n_layer * per_block + 2 * cfg.d_model


def llama_non_embedding_weights(n_layer: int, d_model: int, d_attn: int, d_ff: int) -> int:
    """Kaplan Table 1's count with a SwiGLU MLP: n_layer (4 d_model d_attn + 3 d_model d_ff), weights only.

    Attention as Kaplan (q, k, v, out: 4 d_model d_attn); the gated MLP has three d_model x d_ff
    matrices (Shazeer 2020 eq. 6) where GPT-2's has two.
    """
    return n_layer * (4 * d_model * d_attn + 3 * d_model * d_ff)


def lstm_non_embedding_weights(n_layer: int, d_model: int) -> int:
    """The input and recurrent weights of a stacked LSTM of width d_model: 8 n_layer d_model^2.

    Each layer maps input and hidden state (both d_model) to 4 gates of d_model (torch.nn.LSTM).
    """
    return n_layer * 2 * LSTM_GATES * d_model * d_model


def closed_form_non_embedding_params(cfg: GPTConfig) -> int:
    """The weight-only closed form of N for cfg.family (Kaplan 2020 Table 1 for gpt2)."""
    if cfg.family == "lstm":
        return lstm_non_embedding_weights(cfg.n_layer, cfg.d_model)
    if cfg.family == "llama":
        return llama_non_embedding_weights(cfg.n_layer, cfg.d_model, cfg.d_attn, cfg.d_ff)
    return kaplan_non_embedding_params(cfg.n_layer, cfg.d_model, cfg.d_attn, cfg.d_ff)


def non_closed_form_params(cfg: GPTConfig) -> int:
    """Parameters of N that the closed forms leave out: biases and norm weights.

    gpt2: bias_and_layernorm_params. llama: two RMSNorm weights per block and the final one, no biases.
    lstm: torch.nn.LSTM's two bias vectors (b_ih, b_hh) of 4 d_model per layer.
    """
    if cfg.family == "lstm":
        return cfg.n_layer * 2 * LSTM_GATES * cfg.d_model
    if cfg.family == "llama":
        return (2 * cfg.n_layer + 1) * cfg.d_model
    return bias_and_layernorm_params(cfg)


def non_embedding_params(cfg: GPTConfig) -> int:
    """N of cfg.family's module from its config alone: the closed form + biases and norm weights."""
    return closed_form_non_embedding_params(cfg) + non_closed_form_params(cfg)


def param_counts_from_config(cfg: GPTConfig) -> ParamCounts:
    """The ParamCounts that count_params(GPT(cfg)) returns, without building the model."""
    token_embedding = cfg.vocab_size * cfg.d_model
    position_embedding = cfg.n_ctx * cfg.d_model if cfg.family == "gpt2" else 0
    output_head = 0 if cfg.tie_embeddings else cfg.d_model * cfg.vocab_size
    return ParamCounts(
        total=non_embedding_params(cfg) + token_embedding + position_embedding + output_head,
        token_embedding=token_embedding,
        position_embedding=position_embedding,
        output_head=output_head,
    )
