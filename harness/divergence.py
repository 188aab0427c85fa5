"""Divergence rules: a run whose loss blew up is stopped and recorded as diverged, finite loss or not.

Gradient clipping keeps a diverging loss finite (train.lr=10 on a tiny model ends near 300 nats, against
5.95 for a uniform guess over its 384 tokens), so NaN/inf alone misses most divergences. Four rules, on
the training loss; all but the first on the recorded rows (each row's train_loss is the mean over the
steps since the previous row; the first row is step 1, the untrained model's loss, about ln(vocab)):

- non_finite: a step's loss is NaN or inf. Every step's loss is checked, when the trainer reads the losses
  it keeps on the device (at the next curve row at the latest); the step recorded is the first non-finite one.
- rise: a row's loss exceeds RISE_FACTOR x the lowest row loss before it.
- above_start: ABOVE_START_ROWS rows in a row lie above the first row: the run got worse than untrained.
- ends_above_unigram: a run of at least UNIGRAM_MIN_STEPS steps ends (its last row) above the unigram
  loss, the entropy of the train split's token frequencies: what a model that ignores the context scores.

Each constant keeps a margin over every healthy run measured (`python -m harness.bench.divergence_margins`,
docs/guarantees.md). Short toy runs end above the unigram loss while healthy (64-step smoke
runs at up to 1.06x, 122-step runs of 1 x 16 up to 1.01x), so the unigram rule judges only long runs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("scalinglab")

NON_FINITE, RISE, ABOVE_START, ENDS_ABOVE_UNIGRAM = "non_finite", "rise", "above_start", "ends_above_unigram"
RULES = (NON_FINITE, RISE, ABOVE_START, ENDS_ABOVE_UNIGRAM)
# Healthy toy runs rose at most 1.14x above their best earlier row (early rows of 1 x 128, warm-up noise); a
# diverging run jumps by orders of magnitude, and a collapse from 4 nats to a uniform guess (5.95-6.93) is 1.5x.
RISE_FACTOR = 1.5
# Healthy runs spent at most 2 rows in a row above their first (untrained) row, in their first steps.
ABOVE_START_ROWS = 5
# Healthy runs of 122 steps of a 1 x 16 model still ended 1% above the unigram loss (18-step isoflop runs 6%,
# 16-step smoke runs 14%); the 1 x 16, 2 x 16 and 4 x 16 models at kaplan_fig1's 488 steps (D = 1e6), the
# slowest learners of its grid, ended 11-12% below it. Shorter runs are judged by the other rules only.
UNIGRAM_MIN_STEPS = 400
_UNIGRAM_CACHE: dict = {}  # (corpus, fingerprint, vocab) -> nats; many runs of a sweep share one split


@dataclass(frozen=True)
class Divergence:
    """Which rule fired, at which step, the loss it saw and the threshold that loss crossed."""

    rule: str
    step: int
    loss: float
    threshold: float

    def describe(self) -> str:
        """'rule rise at step 12: loss 9.31 > threshold 8.02'."""
        return f"rule {self.rule} at step {self.step}: loss {self.loss:.4g} > threshold {self.threshold:.4g}"


def unigram_loss_nats(tokens: np.ndarray) -> float:
    """Entropy (nats/token) of the token frequencies of `tokens`: the loss of predicting those frequencies."""
    counts = np.bincount(np.asarray(tokens))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def train_unigram_loss(data) -> float:
    """The unigram loss of a PreparedData's train split, computed once per corpus version and vocabulary."""
    key = (data.corpus, data.fingerprint, data.vocab_size)
    if key not in _UNIGRAM_CACHE:
        _UNIGRAM_CACHE[key] = unigram_loss_nats(data.train_tokens)
    return _UNIGRAM_CACHE[key]


def non_finite(step: int, loss: float) -> Divergence | None:
    """The non_finite rule for one step's loss."""
    return None if math.isfinite(loss) else Divergence(NON_FINITE, step, loss, math.inf)


def find_divergence(rows: list[dict], unigram_nats: float, total_steps: int) -> Divergence | None:
    """The first rule the newest row trips (rows as the trainer records them), or None."""
    if len(rows) < 2:
        return None
    last, losses = rows[-1], [r["train_loss"] for r in rows]
    if losses[-1] > RISE_FACTOR * min(losses[:-1]):
        return Divergence(RISE, last["step"], losses[-1], RISE_FACTOR * min(losses[:-1]))
    recent = losses[1:][-ABOVE_START_ROWS:]
    if len(recent) == ABOVE_START_ROWS and min(recent) > losses[0]:
        return Divergence(ABOVE_START, last["step"], losses[-1], losses[0])
    if last["step"] == total_steps >= UNIGRAM_MIN_STEPS and losses[-1] > unigram_nats:
        return Divergence(ENDS_ABOVE_UNIGRAM, last["step"], losses[-1], unigram_nats)
    return None


def mark_diverged(state, found: Divergence, label: str) -> None:
    """Record `found` on the trainer's CurveState and say so in the log."""
    state.status, state.diverged_step, state.diverged_rule = "diverged", found.step, found.rule
    log.warning("%s: diverged, %s", label, found.describe())
