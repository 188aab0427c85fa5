"""Learning-rate schedules (cosine, warmup-stable-decay) and the steps at which a run is measured."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict

import numpy as np

# What each cooldown shape named in configs.train.COOLDOWN_SHAPES (with its source) leaves of (peak - final) at
# cooldown progress p in (0, 1]; tests/test_harness_schedule_wsd.py checks the names agree.
COOLDOWN_FRACTION_LEFT: Dict[str, Callable[[float], float]] = {
    "1-sqrt": lambda p: 1.0 - math.sqrt(p),
    "linear": lambda p: 1.0 - p,
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
}


def lr_at(step: int, peak_lr: float, warmup_steps: int, total_steps: int, final_ratio: float) -> float:
    """Linear warmup to the peak, then cosine decay reaching final_ratio * peak exactly at the last step.

    `step` counts optimizer steps already taken (0 = the first update).
    """
    if step < warmup_steps:
        return warmup_lr(step, peak_lr, warmup_steps)
    decay_steps = max(1, total_steps - 1 - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak_lr * (final_ratio + (1.0 - final_ratio) * cosine)


def warmup_lr(step: int, peak_lr: float, warmup_steps: int) -> float:
    """Linear warmup: the rate of update `step` (0-based) while step < warmup_steps."""
    return peak_lr * (step + 1) / warmup_steps


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warmup, then cosine decay to final_ratio * peak at the last step (Kaplan et al. 2020 sec. 2.2)."""

    peak_lr: float
    warmup_steps: int
    total_steps: int
    final_ratio: float

    def lr(self, step: int) -> float:
        """Learning rate of optimizer update `step` (0 = the first)."""
        return lr_at(step, self.peak_lr, self.warmup_steps, self.total_steps, self.final_ratio)


@dataclass(frozen=True)
class WSDSchedule:
    """Warmup-stable-decay: linear warmup, constant at the peak, then a cooldown over the last cooldown_steps
    ending at final_ratio * peak at the last step (Hägele et al. 2024). Before cooldown_start the rate does
    not depend on total_steps, which is what lets one trunk serve every budget."""

    peak_lr: float
    warmup_steps: int
    total_steps: int
    cooldown_steps: int
    shape: str
    final_ratio: float

    @property
    def cooldown_start(self) -> int:
        """The first update of the cooldown: the steps a trunk trains before this budget's branch forks."""
        return self.total_steps - self.cooldown_steps

    def lr(self, step: int) -> float:
        """Learning rate of optimizer update `step` (0 = the first)."""
        if step < self.warmup_steps:
            return warmup_lr(step, self.peak_lr, self.warmup_steps)
        if step < self.cooldown_start:
            return self.peak_lr
        progress = min(1.0, (step - self.cooldown_start + 1) / self.cooldown_steps)
        left = COOLDOWN_FRACTION_LEFT[self.shape](progress)
        return self.peak_lr * (self.final_ratio + (1.0 - self.final_ratio) * left)


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
