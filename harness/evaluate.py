"""Held-out loss of a model: per token, per window, and the whole set's mean with its standard error."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness.device import autocast_for


@torch.no_grad()
def per_token_test_losses(model: torch.nn.Module, windows: torch.Tensor, device: torch.device,
                          batch: int) -> torch.Tensor:
    """Next-token loss (nats) of each held-out window at each position, (windows, n_ctx), on the CPU.

    Evaluated `batch` windows at a time (the training batch: memory bounded by what training needs).
    Chunks of 16 windows cost 0.33-0.56 of a training step per token on the toy shapes, chunks of 64
    0.47-0.61 (2-core CPU; the 64-window logits no longer fit in cache): see docs/speed.md.
    """
    model.eval()
    per_window = []
    for chunk in windows.split(batch):
        chunk = chunk.to(device)
        with autocast_for(device):
            logits, _ = model(chunk[:, :-1])
        per_token = F.cross_entropy(logits.float().transpose(1, 2), chunk[:, 1:], reduction="none")
        per_window.append(per_token.cpu())
    model.train()
    return torch.cat(per_window)


def per_window_test_losses(model: torch.nn.Module, windows: torch.Tensor, device: torch.device,
                           batch: int) -> torch.Tensor:
    """Mean next-token loss (nats) of each held-out window, on the CPU."""
    return per_token_test_losses(model, windows, device, batch).mean(dim=1)


def sem(x: torch.Tensor) -> float:
    """Standard error of the mean of x (sample standard deviation / sqrt(n))."""
    return float(x.std() / math.sqrt(len(x)))


def test_loss(model: torch.nn.Module, windows: torch.Tensor, device: torch.device, batch: int) -> tuple[float, float]:
    """Mean next-token loss (nats) over the fixed held-out windows, and its standard error across windows."""
    losses = per_window_test_losses(model, windows, device, batch)
    return float(losses.mean()), sem(losses)


def final_test_losses(model: torch.nn.Module, windows: torch.Tensor, device: torch.device,
                      batch: int) -> tuple[float, float, list]:
    """(mean loss, its standard error across windows, mean loss at each position 0..n_ctx-1) of the whole set."""
    per_token = per_token_test_losses(model, windows, device, batch)
    per_window = per_token.mean(dim=1)
    return float(per_window.mean()), sem(per_window), per_token.mean(dim=0).tolist()
