"""Where a run executes: device choice, autocast precision and CPU threads."""

from __future__ import annotations

import contextlib
import os

import torch

from configs.errors import ConfigError


def pick_device(requested: str) -> torch.device:
    """'auto' takes CUDA when present, else the CPU; 'cuda' without a GPU is an error, not a fallback."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", requested, "no CUDA device is visible; use 'cpu' or 'auto'")
    return torch.device(requested)


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; fp32 on the CPU, where bf16 matmul is ~100x slower (shared/NOTES.md)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def threads_for(requested: int, parallel_jobs: int) -> int:
    """torch CPU threads: as requested, or the cores shared evenly among jobs running side by side."""
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 1) // max(1, parallel_jobs))
