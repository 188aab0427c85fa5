"""Resumable run state, written atomically so a kill at any moment leaves the previous checkpoint intact."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from harness.quarantine import move_aside
from harness.store import atomic_write_bytes

log = logging.getLogger("scalinglab")

CHECKPOINTS_SUBDIR = "checkpoints"
CHECKPOINT_KEYS = ("model", "optimizer", "curve")  # what harness.trainer.Trainer saves and restores


def checkpoint_path(results_dir: str | Path, run_id: str) -> Path:
    """Where the checkpoint of an unfinished run lives."""
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{run_id}.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` (tensors and plain Python values) to `path` via a temp file and a rename."""
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The saved state, or None when the run has no checkpoint yet, or one that cannot be loaded: that one is
    moved to RESULTS_DIR/quarantine/checkpoints/ with a warning naming it, and the run trains from the start."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=False)
        missing = [k for k in CHECKPOINT_KEYS if not isinstance(saved, dict) or k not in saved]
        if missing:
            raise ValueError(f"not a checkpoint of this harness (no {', '.join(missing)})")
    except Exception as exc:  # a damaged file makes torch.load raise RuntimeError, EOFError, UnpicklingError...
        # a checkpoint lives in RESULTS_DIR/checkpoints/, a trunk's kept state one folder deeper (trunks/<id>/)
        results_dir = path.parent.parent if path.parent.name == CHECKPOINTS_SUBDIR else path.parent.parent.parent
        target = move_aside(path, results_dir)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("unreadable checkpoint %s (%s): moved to %s; the run trains from the start", path, reason, target)
        return None
    return saved


def log_resumed(run_id: str, path: Path, step: int, steps: int) -> None:
    """Say in the log that a run continues from a saved state (its checkpoint, or a trunk's fork), and from which
    step."""
    log.info("run %s: resuming from step %d of %d (saved state %s)", run_id[:8], step, steps, path)
