"""A Llama-style decoder (Touvron et al. 2023), in the order data flows through it.

Token embedding (no position embedding) -> n_layer pre-RMSNorm blocks (causal self-attention with
rotary positions on q and k, SwiGLU MLP) -> final RMSNorm -> output head. No linear has a bias.
Init as models/gpt.py (N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)) so that the
families differ in their blocks only.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.config import GPTConfig

ROPE_BASE = 10_000.0  # Su et al. 2021 (RoFormer) eq. 15, theta_i = 10000^(-2i/d); Llama uses the same base
RMS_NORM_EPS = 1e-5  # Llama 2's rms_norm_eps (Touvron et al. 2023, released config)


def rotary_tables(n_ctx: int, d_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position t times frequency theta_i, each (n_ctx, d_head / 2) (RoFormer eq. 15)."""
    theta = ROPE_BASE ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
    angles = torch.outer(torch.arange(n_ctx, dtype=torch.float32), theta)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x[2i], x[2i+1]) of the last dim of x (batch, head, time, d_head) by its angle."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class RotaryAttention(nn.Module):
    """Multi-head causal self-attention, rotary positions on queries and keys, no biases."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.wqkv = nn.Linear(cfg.d_model, 3 * cfg.d_attn, bias=False)
        self.wo = nn.Linear(cfg.d_attn, cfg.d_model, bias=False)  # output projection into the residual
        cos, sin = rotary_tables(cfg.n_ctx, cfg.d_head)
        # Not parameters and not saved: derived from the shape, so they cost no N and no checkpoint bytes.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, time, d_model) to (batch, time, d_model); position t sees only <= t."""
        B, T, _ = x.shape
        q, k, v = self.wqkv(x).chunk(3, dim=-1)
        q, k, v = (z.view(B, T, self.n_head, -1).transpose(1, 2) for z in (q, k, v))
        q, k = apply_rotary(q, self.cos[:T], self.sin[:T]), apply_rotary(k, self.cos[:T], self.sin[:T])
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    """Gated MLP of Shazeer 2020 eq. 6: w2(silu(w1 x) * w3 x), three d_model x d_ff matrices."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)  # gate
        self.w3 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)  # up
        self.w2 = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)  # down, into the residual
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gated MLP to every position independently."""
        return self.drop(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class LlamaBlock(nn.Module):
    """x + attn(rmsnorm(x)), then x + swiglu(rmsnorm(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm_1 = nn.RMSNorm(cfg.d_model, eps=RMS_NORM_EPS)
        self.attn = RotaryAttention(cfg)
        self.norm_2 = nn.RMSNorm(cfg.d_model, eps=RMS_NORM_EPS)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Update the residual stream with attention, then with the MLP."""
        x = x + self.attn(self.norm_1(x))
        return x + self.mlp(self.norm_2(x))


class Llama(nn.Module):
    """Decoder-only language model; forward(idx, targets) returns (logits, loss in nats)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embedding; positions are rotary
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(LlamaBlock(cfg) for _ in range(cfg.n_layer))
        self.norm_f = nn.RMSNorm(cfg.d_model, eps=RMS_NORM_EPS)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # as models/gpt.py, so the families count alike
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        for block in self.blocks:
            # As GPT-2 (Radford et al. 2019 sec. 2.3): two residual branches per block.
            for proj in (block.attn.wo, block.mlp.w2):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (batch, time, vocab) for token ids idx (batch, time); loss is mean CE in nats."""
        T = idx.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"idx.shape[1]={T}: sequence length must be <= n_ctx={self.cfg.n_ctx}")
        x = self.drop(self.wte(idx))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss
