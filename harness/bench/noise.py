"""Test-loss noise: one run's standard error across the held-out windows against the standard error of the
difference between two runs evaluated on the same windows (paired)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Sequence

import torch
from hydra import compose, initialize_config_dir

import configs.run
from configs.run import to_run_config
from harness.data import prepare_data
from harness.device import pick_device
from harness.resolve import resolve
from harness.trainer import Trainer, per_window_test_losses, sem


def _trained_losses(overrides: Sequence[str]) -> tuple[str, torch.Tensor]:
    with initialize_config_dir(config_dir=str(configs.run.CONFIG_DIR), version_base="1.3"):
        cfg = to_run_config(compose("run", overrides=[*overrides, f"sweep.results_dir={tempfile.mkdtemp()}"]))
    run, device = resolve(cfg), pick_device(cfg.train.device)
    trainer = Trainer(run, prepare_data(cfg.data), device, Path(tempfile.mkdtemp()) / "noise.pt")
    trainer.train()
    label = f"{run.gpt.n_layer}x{run.gpt.d_model}"
    return label, per_window_test_losses(trainer.model, trainer.test, device, run.micro_batch_size)


def paired_noise(overrides_a: Sequence[str], overrides_b: Sequence[str]) -> dict:
    """Train runs A and B (scripts/train.py overrides), evaluate both on the whole test set, compare."""
    configs.run.register()
    (label_a, a), (label_b, b) = _trained_losses(overrides_a), _trained_losses(overrides_b)
    return {"run_a": label_a, "loss_a": float(a.mean()), "sem_a": sem(a),
            "run_b": label_b, "loss_b": float(b.mean()), "sem_b": sem(b),
            "difference": float((b - a).mean()), "sem_difference_paired": sem(b - a),
            "sem_difference_unpaired": math.hypot(sem(a), sem(b)), "windows": len(a)}
