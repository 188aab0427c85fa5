"""FLOPs per token of a GPT under each counting convention the literature uses.

One named function per convention, so a run can be re-expressed under another convention without
re-training (the keys of TRAIN_FLOPS_PER_TOKEN are the suffixes of the `compute_*` columns).
A multiply-add counts as 2 FLOPs throughout.

Each function reads cfg.family (docs/families.md): llama's MLP has three matrices, so its
breakdown charges 3 matmuls where gpt2's has 2; lstm has no attention, so every attention term is
0 and the recurrence (input and recurrent weights, 8 d_model^2 multiply-adds per layer) takes its place.

N is the non-embedding parameter count of the module as built (Kaplan 2020 sec. 2.1's
definition applied to the real module): Kaplan's closed form 12 n_layer d_model^2 *plus* the
biases and LayerNorm parameters (models.counting.non_embedding_params). It is computed from the
config alone, equals count_params(GPT(cfg)).non_embedding exactly, and so can be cross-checked.
"""

from dataclasses import dataclass

from models.config import ATTENTION_FAMILIES, GPTConfig
from models.counting import lstm_non_embedding_weights, non_embedding_params

# SwiGLU has three d_model x d_ff matrices, GELU's MLP two (Shazeer 2020 eq. 6; Kaplan 2020 Table 1).
MLP_MATRICES = {"gpt2": 2, "llama": 3, "lstm": 0}


def attention_context_flops(cfg: GPTConfig) -> float:
    """Kaplan 2020 Table 1's attention-context term 2 n_layer n_ctx d_attn; 0 for lstm (no attention)."""
    if cfg.family not in ATTENTION_FAMILIES:
        return 0.0
    return float(2 * cfg.n_layer * cfg.n_ctx * cfg.d_attn)  # Kaplan 2020 Table 1, "Attention: QK logits"


def flops_per_token_fwd_kaplan(cfg: GPTConfig) -> float:
    """Kaplan 2020's forward FLOPs per token: 2N plus the attention-context term."""
    return 2 * non_embedding_params(cfg) + attention_context_flops(cfg)  # Kaplan 2020 Table 1, C_forward


def flops_per_token_6n(cfg: GPTConfig) -> float:
    """Kaplan 2020's training FLOPs per token, C ~= 6N (forward 2N + backward 4N)."""
    return float(6 * non_embedding_params(cfg))  # Kaplan 2020 sec. 2.1, C = 6 N


def flops_per_token_6n_logits(cfg: GPTConfig) -> float:
    """6N with the un-embedding matmul counted as parameters too: 6(N + d_model n_vocab)."""
    n = non_embedding_params(cfg)
    return float(6 * (n + cfg.d_model * cfg.vocab_size))  # Kaplan 2020 Table 1 "De-embed" x 3


def flops_per_token_palm(cfg: GPTConfig) -> float:
    """PaLM's training FLOPs per token: 6N plus attention, 12 L H Q T with H Q = d_model."""
    # Chowdhery 2022 app. B: 12 L H Q T = 6 x Kaplan's 2 n_layer n_ctx d_attn (0 for lstm).
    return 6 * non_embedding_params(cfg) + 6 * attention_context_flops(cfg)


@dataclass(frozen=True)
class ForwardFlops:
    """Hoffmann 2022 app. F forward FLOPs per token, term by term, summed over all layers."""

    embeddings: float
    """2 n_vocab d_model: Chinchilla counts the embedding as a one-hot matmul."""
    attn_qkv: float
    """2 * 3 d_model d_attn per layer."""
    attn_logits: float
    """Q K^T: 2 ctx d_attn per layer."""
    attn_softmax: float
    """3 n_head ctx per layer (max-subtract, exp, divide)."""
    attn_values: float
    """softmax @ V: 2 ctx d_attn per layer."""
    attn_out: float
    """2 d_attn d_model per layer."""
    mlp: float
    """2 * 2 d_model d_ff per layer."""
    logits: float
    """2 d_model n_vocab."""
    recurrent: float = 0.0
    """lstm only: 2 * 8 d_model^2 per layer, the input and recurrent matmuls of the four gates."""

    @property
    def total(self) -> float:
        """All terms: Hoffmann 2022 app. F's forward-pass total."""
        return self.embeddings + self.attn_softmax + self.matmul

    @property
    def matmul(self) -> float:
        """The terms torch executes as matmuls (what FlopCounterMode counts).

        Leaves out the embedding (a gather in PyTorch, not a matmul) and the softmax (elementwise).
        """
        return (self.attn_qkv + self.attn_logits + self.attn_values + self.attn_out
                + self.mlp + self.logits + self.recurrent)


def forward_flops_breakdown(cfg: GPTConfig, causal_halving: bool = False) -> ForwardFlops:
    """Hoffmann 2022 app. F's forward count per token, term by term (biases and norms are not counted).

    Rotary embeddings (llama) and the LSTM's gate nonlinearities are elementwise and not counted,
    as app. F leaves out the GELU and the LayerNorms.

    Chinchilla charges every token the full n_ctx context in the two attention matmuls and the
    softmax, i.e. it does not halve for the causal mask. causal_halving=True instead charges the
    average context a causal token actually attends to, (n_ctx + 1) / 2. Note that
    F.scaled_dot_product_attention(is_causal=True) is counted by torch's FlopCounterMode as the
    full square (it does not skip the masked half; and on CPU its fused kernel is not counted at
    all -- see tests/test_models_flops.py).
    """
    d, L, V = cfg.d_model, cfg.n_layer, cfg.vocab_size
    ctx = (cfg.n_ctx + 1) / 2 if causal_halving else cfg.n_ctx
    if cfg.family not in ATTENTION_FAMILIES:
        return ForwardFlops(embeddings=float(2 * V * d), attn_qkv=0.0, attn_logits=0.0, attn_softmax=0.0,
                            attn_values=0.0, attn_out=0.0, mlp=0.0, logits=float(2 * d * V),
                            recurrent=float(2 * lstm_non_embedding_weights(L, d)))  # gate biases not counted
    return ForwardFlops(
        embeddings=float(2 * V * d),  # Hoffmann 2022 app. F, "Embeddings"
        attn_qkv=float(L * 2 * 3 * d * cfg.d_attn),  # app. F, "Key, query and value projections"
        attn_logits=float(L * 2 * ctx * cfg.d_attn),  # app. F, "Key @ Query logits"
        attn_softmax=float(L * 3 * cfg.n_head * ctx),  # app. F, "Softmax"
        attn_values=float(L * 2 * ctx * cfg.d_attn),  # app. F, "Softmax @ query reductions"
        attn_out=float(L * 2 * cfg.d_attn * d),  # app. F, "Final Linear"
        mlp=float(L * 2 * MLP_MATRICES[cfg.family] * d * cfg.d_ff),  # app. F, "Dense Block"
        logits=float(2 * d * V),  # app. F, "Final Logits"
    )


def flops_per_token_fwd_exact(cfg: GPTConfig, causal_halving: bool = False) -> float:
    """Hoffmann 2022 app. F's total forward FLOPs per token (see forward_flops_breakdown)."""
    return forward_flops_breakdown(cfg, causal_halving).total


# Training = forward + backward, the backward costing twice the forward (Hoffmann 2022 app. F; Kaplan 2020 sec. 2.1).
TRAIN_OVER_FORWARD = 3


def flops_per_token_train_exact(cfg: GPTConfig) -> float:
    """Training FLOPs per token: forward + backward, with backward = 2 x forward."""
    return TRAIN_OVER_FORWARD * flops_per_token_fwd_exact(cfg)


TRAIN_FLOPS_PER_TOKEN = {
    "6n": flops_per_token_6n,
    "6n_logits": flops_per_token_6n_logits,
    "palm": flops_per_token_palm,
    "exact": flops_per_token_train_exact,
}
"""Training FLOPs per token by convention key (docs/architecture.md); keys suffix `compute_*`."""
