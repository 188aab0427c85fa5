"""Learning-rate schedule and the steps at which a run is measured."""

from __future__ import annotations

import math

import numpy as np


def lr_at(step: int, peak_lr: float, warmup_steps: int, total_steps: int, final_ratio: float) -> float:
    """Linear warmup to the peak, then cosine decay reaching final_ratio * peak exactly at the last step.

    `step` counts optimizer steps already taken (0 = the first update).
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - 1 - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak_lr * (final_ratio + (1.0 - final_ratio) * cosine)


def log_spaced_steps(total_steps: int, n_points: int) -> list[int]:
    """At least min(n_points, total_steps) distinct steps in [1, total_steps], log-spaced, last included."""
    if total_steps <= n_points:
        return list(range(1, total_steps + 1))
    k = n_points
    while True:
        steps = np.unique(np.round(np.geomspace(1, total_steps, k)).astype(int))
        if len(steps) >= n_points:
            return [int(s) for s in steps]
        k += 1


def evenly_spaced_steps(total_steps: int, n_points: int) -> list[int]:
    """Up to n_points steps evenly spaced in [1, total_steps], last included."""
    return sorted({int(s) for s in np.linspace(1, total_steps, min(n_points, total_steps)).round()})
