"""M GPT models of one shape as one batched computation: weights stacked on a leading member dimension.

The same math as models/gpt.py (pre-LayerNorm blocks, fused qkv, causal SDPA, GELU MLP, tied head),
written with batched matmuls so that one call of each op serves every member: `packed_losses` returns
each member's mean next-token loss. Members never mix: every op is independent along dim 0 (the
attention folds members into its batch), so a NaN in one member's weights stays in that member's loss and
gradients. Parameters are keyed by the names of `GPT.named_parameters()` (a tied head has none of its own).
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from models.config import GPTConfig


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.LayerNorm (eps 1e-5) of x (M, rows, d) with each member's own affine weight and bias (M, d)."""
    return torch.addcmul(bias.unsqueeze(1), F.layer_norm(x, x.shape[-1:]), weight.unsqueeze(1))


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """nn.Linear per member: x (M, rows, in) @ weight (M, out, in)^T + bias (M, out)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _attention(x: torch.Tensor, p: Dict[str, torch.Tensor], pre: str, cfg: GPTConfig, batch: int) -> torch.Tensor:
    """Causal self-attention of every member at once: members and sequences share SDPA's batch dimension."""
    members, rows, _ = x.shape
    T = rows // batch
    qkv = _linear(x, p[pre + "attn.c_attn.weight"], p[pre + "attn.c_attn.bias"])
    q, k, v = (z.reshape(members * batch, T, cfg.n_head, -1).transpose(1, 2) for z in qkv.chunk(3, dim=-1))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    y = y.transpose(1, 2).reshape(members, rows, cfg.d_attn)
    return _linear(y, p[pre + "attn.c_proj.weight"], p[pre + "attn.c_proj.bias"])


def _mlp(x: torch.Tensor, p: Dict[str, torch.Tensor], pre: str) -> torch.Tensor:
    h = F.gelu(_linear(x, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]))
    return _linear(h, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])


def packed_hidden(p: Dict[str, torch.Tensor], cfg: GPTConfig, idx: torch.Tensor) -> torch.Tensor:
    """The final-LayerNorm output (M, batch * T, d_model) of every member for token ids idx (M, batch, T)."""
    members, batch, T = idx.shape
    if T > cfg.n_ctx:
        raise ValueError(f"idx.shape[2]={T}: sequence length must be <= n_ctx={cfg.n_ctx}")
    wte = p["wte.weight"]
    # Member m's rows of the stacked table start at m * vocab: one embedding lookup serves every member.
    offsets = (torch.arange(members, device=idx.device) * cfg.vocab_size).view(members, 1, 1)
    x = F.embedding(idx + offsets, wte.reshape(-1, cfg.d_model)) + p["wpe.weight"][:, :T].unsqueeze(1)
    x = x.reshape(members, batch * T, cfg.d_model)
    for i in range(cfg.n_layer):
        pre = f"blocks.{i}."
        x = x + _attention(_layer_norm(x, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"]), p, pre, cfg, batch)
        x = x + _mlp(_layer_norm(x, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"]), p, pre)
    return _layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])


def packed_losses(p: Dict[str, torch.Tensor], cfg: GPTConfig, idx: torch.Tensor,
                  targets: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy (nats) over its batch, shape (M,), for idx and targets (M, batch, T).

    The output head and its loss run member by member: at toy widths they are most of a step, and one
    member's logits (batch * T * vocab floats) stay in cache where M members' would not (docs/speed.md).
    """
    if cfg.dropout:
        raise ValueError(f"dropout={cfg.dropout}: packed models draw no dropout masks; must be 0")
    x = packed_hidden(p, cfg, idx)
    head = p["wte.weight"] if cfg.tie_embeddings else p["lm_head.weight"]
    flat = targets.reshape(targets.shape[0], -1)
    return torch.stack([F.cross_entropy(x[m] @ head[m].T, flat[m]) for m in range(x.shape[0])])
