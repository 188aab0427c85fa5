"""The reference the trainer is measured against: a GPT training loop a researcher writes in an afternoon.

Deliberately independent of models/ and of harness.trainer: its own nanoGPT-style module (pre-LN,
SDPA causal attention, GELU MLP, tied embeddings), AdamW with torch's defaults (foreach) over all
parameters, random windows of the same token stream, fp32 on the CPU (bf16 autocast on CUDA), no
gradient clipping, no learning-rate schedule, and the loss read back only when somebody logs it.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class PlainBlock(nn.Module):
    """x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d_model: int, n_head: int, d_ff: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One pre-LN transformer block."""
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class PlainGPT(nn.Module):
    """Token + position embeddings, n_layer blocks, final LN, head tied to the token embedding."""

    def __init__(self, n_layer: int, d_model: int, n_head: int, d_ff: int, n_ctx: int, vocab_size: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, d_model), nn.Embedding(n_ctx, d_model)
        self.blocks = nn.Sequential(*(PlainBlock(d_model, n_head, d_ff) for _ in range(n_layer)))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.wte.weight  # tied embeddings, as in GPT-2

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        logits = self.head(self.ln_f(self.blocks(self.wte(idx) + self.wpe(pos))))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class PlainLoop:
    """One step() = one AdamW update on a random batch; the same shape, batch and data as a trainer run."""

    def __init__(self, gpt, batch_size: int, lr: float, tokens: np.ndarray, device: torch.device, seed: int = 0):
        torch.manual_seed(seed)
        self.model = PlainGPT(gpt.n_layer, gpt.d_model, gpt.n_head, gpt.d_ff, gpt.n_ctx, gpt.vocab_size).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        self.data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
        self.n_ctx, self.batch_size, self.device = gpt.n_ctx, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """nanoGPT's get_batch: batch_size windows at random offsets."""
        ix = torch.randint(len(self.data) - self.n_ctx - 1, (self.batch_size,), generator=self.generator)
        x = torch.stack([self.data[i:i + self.n_ctx] for i in ix.tolist()])
        y = torch.stack([self.data[i + 1:i + 1 + self.n_ctx] for i in ix.tolist()])
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def step(self) -> torch.Tensor:
        """Forward, backward, AdamW; returns the loss without reading it back."""
        x, y = self.batch()
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
                    else contextlib.nullcontext())
        with autocast:
            loss = self.model(x, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()
