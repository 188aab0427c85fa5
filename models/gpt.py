"""A decoder-only GPT in the style of GPT-2 / nanoGPT, in the order data flows through it.

Token + learned position embeddings -> n_layer pre-LayerNorm blocks (causal self-attention, GELU
MLP) -> final LayerNorm -> output head (tied to the token embedding unless told otherwise).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.config import GPTConfig


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a causal mask, all heads in one fused qkv matmul."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_attn)  # q, k, v for every head at once
        self.c_proj = nn.Linear(cfg.d_attn, cfg.d_model)  # output projection into the residual
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, time, d_model) to (batch, time, d_model); position t sees only <= t."""
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        q, k, v = (z.view(B, T, self.n_head, -1).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, -1)
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: d_model -> d_ff -> GELU -> d_model."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(cfg.d_ff, cfg.d_model)  # output projection into the residual
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to every position independently."""
        return self.drop(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Update the residual stream with attention, then with the MLP."""
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only language model; forward(idx, targets) returns (logits, loss in nats)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embedding
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)  # learned position embedding
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            # Weight tying (Press & Wolf 2017, GPT-2): one matrix embeds and un-embeds tokens.
            self.lm_head.weight = self.wte.weight
        self.apply(_init_gpt2)
        for block in self.blocks:
            # GPT-2 (Radford et al. 2019 sec. 2.3): each block adds two residual branches, so the
            # residual stream's variance grows with depth; shrinking the projections writing into
            # it by 1/sqrt(2 * n_layer) keeps the output scale independent of n_layer.
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (batch, time, vocab) for token ids idx (batch, time); loss is mean CE in nats."""
        T = idx.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"idx.shape[1]={T}: sequence length must be <= n_ctx={self.cfg.n_ctx}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


def _init_gpt2(module: nn.Module) -> None:
    """GPT-2 init: N(0, 0.02) weights for linears and embeddings, zero biases; LayerNorm (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
