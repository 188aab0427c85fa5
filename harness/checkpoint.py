"""Resumable run state, written atomically so a kill at any moment leaves the previous checkpoint intact."""

from __future__ import annotations

from pathlib import Path

import torch

from harness.store import atomic_write_bytes

CHECKPOINTS_SUBDIR = "checkpoints"


def checkpoint_path(results_dir: str | Path, run_id: str) -> Path:
    """Where the checkpoint of an unfinished run lives."""
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{run_id}.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` (tensors and plain Python values) to `path` via a temp file and a rename."""
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The saved state, or None when the run has no checkpoint yet."""
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=False)
