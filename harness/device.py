"""Where a run executes: device choice, autocast precision, compilation, CPU threads, and how fast its matmuls run."""

from __future__ import annotations

import contextlib
import os
import time

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
    """bf16 autocast on CUDA; fp32 on the CPU, which records fp32 numerics and often lacks bf16 units (docs/speed.md)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compiled(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """`model` under torch.compile in `mode` (train.compile), or `model` itself for 'none'.

    The compiled module shares the parameters of `model`, so optimizer, checkpoints and evaluation
    keep using `model` itself.
    """
    if mode == "none":
        return model
    # A process trains one run at a time (the basic launcher, a reused joblib worker, the benchmark): forgetting
    # the code compiled for earlier runs keeps each run below dynamo's recompile limit (recompile_limit, 8 in
    # torch 2.13), past which torch would run the model eagerly with only a logged warning.
    torch.compiler.reset()
    return torch.compile(model, mode=mode)


def threads_for(requested: int, parallel_jobs: int) -> int:
    """torch CPU threads: as requested, or the cores shared evenly among jobs running side by side."""
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 1) // max(1, parallel_jobs))


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer stops when the work does (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops_per_s(size: int, dtype: torch.dtype, device: torch.device, trials: int,
                       min_time_s: float) -> float:
    """Best-of-`trials` FLOP/s of a size x size matmul (2 size^3 FLOPs each) on `device`, measured now.

    Each timing repeats the matmul for about `min_time_s` (the repeat count is set from a first,
    warm-up product); the best timing is kept so that a passing load does not lower the figure.
    """
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    start = time.perf_counter()
    a @ b
    synchronize(device)
    repeats = max(1, int(min_time_s / max(time.perf_counter() - start, 1e-6)))
    best = 0.0
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start))
    return best
