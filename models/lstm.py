"""A stacked LSTM language model (Kaplan et al. 2020 sec. 3.2.1, Fig. 7), sized by d_model and n_layer.

Token embedding -> n_layer LSTM layers of width d_model -> output head (tied to the embedding
unless told otherwise). No position embedding: the recurrence carries position.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.config import GPTConfig

LSTM_GATES = 4  # input, forget, cell and output gates (Hochreiter & Schmidhuber 1997; torch.nn.LSTM)
# torch.nn.Embedding's own N(0, 1). GPT-2's N(0, 0.02) is normalised by the first LayerNorm; an LSTM has none,
# so 0.02-sized inputs barely move its gates: at 2 x 80, 150 steps, it stayed at the unigram loss (4.89 nats
# against 4.16 with N(0, 1); docs/families.md).
LSTM_EMBEDDING_STD = 1.0


class LSTMLM(nn.Module):
    """Recurrent language model; forward(idx, targets) returns (logits, loss in nats)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        # torch.nn.LSTM's own init, U(-1/sqrt(d), 1/sqrt(d)), for the recurrent and input weights.
        self.lstm = nn.LSTM(cfg.d_model, cfg.d_model, num_layers=cfg.n_layer, batch_first=True,
                            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        nn.init.normal_(self.wte.weight, mean=0.0, std=LSTM_EMBEDDING_STD)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        else:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (batch, time, vocab) for token ids idx (batch, time); loss is mean CE in nats."""
        T = idx.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"idx.shape[1]={T}: sequence length must be <= n_ctx={self.cfg.n_ctx}")
        h, _ = self.lstm(self.drop(self.wte(idx)))
        logits = self.lm_head(self.drop(h))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


def lstm_unfused(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """nn.LSTM's forward (no dropout) written as explicit matmuls, step by step.

    torch's FLOP counter does not see the fused aten.lstm kernel (it counts 0); this path computes
    the same output with F.linear, which it does count (tests/test_models_families_flops.py).
    """
    for layer in range(lstm.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(lstm, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh",
                                                                            "bias_ih", "bias_hh"))
        h = c = x.new_zeros(x.shape[0], lstm.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = (F.linear(x[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(LSTM_GATES, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        x = torch.stack(outputs, dim=1)
    return x
