"""Training batches and the fixed held-out windows, cut from a token-id stream.

A window is n_ctx+1 consecutive tokens starting at a multiple of n_ctx: the inputs of different
windows never overlap, so a run that trains on D tokens has seen D distinct token positions
(the last token of a window is only ever a target there, and the first input of the next).
"""

import numpy as np
import torch

from configs.errors import ConfigError
from harness.data.prepare import PreparedData

# Epoch permutations kept in memory: the current one and the next, for a batch straddling both.
CACHED_PERMUTATIONS = 2


def window_count(n_tokens: int, n_ctx: int) -> int:
    """How many windows of n_ctx+1 tokens start at multiples of n_ctx inside n_tokens tokens."""
    return max(n_tokens - 1, 0) // n_ctx


def _require_positive(field: str, value: int) -> None:
    """ConfigError unless value is a positive integer."""
    if value <= 0:
        raise ConfigError(field, value, "must be a positive integer")


class TrainWindows:
    """Seeded batches of training windows, drawn without replacement within each epoch.

    Epoch e visits every window once in the order of a permutation seeded by (seed, e), so
    batch(step) is a pure function of (seed, step): a resumed run continues the same order.
    """

    def __init__(self, tokens: np.ndarray, n_ctx: int, batch_size: int, total_tokens: int,
                 seed: int, allow_repeat: bool) -> None:
        for field, value in (("model.n_ctx", n_ctx), ("train.batch_size", batch_size),
                             ("train.tokens", total_tokens)):
            _require_positive(field, value)
        if seed < 0:
            raise ConfigError("train.seed", seed, "must be a non-negative integer")
        self.n_windows = window_count(len(tokens), n_ctx)
        if self.n_windows == 0:
            raise ConfigError("model.n_ctx", n_ctx, f"a window needs n_ctx+1 tokens and the train "
                              f"split has {len(tokens)}; use n_ctx <= {len(tokens) - 1}")
        tokens_per_step = batch_size * n_ctx
        if total_tokens < tokens_per_step:
            raise ConfigError("train.tokens", total_tokens, f"must be at least one batch, "
                              f"batch_size*n_ctx = {tokens_per_step} tokens")
        self.steps = total_tokens // tokens_per_step
        self.available_tokens = self.n_windows * n_ctx
        if self.steps * tokens_per_step > self.available_tokens and not allow_repeat:
            raise ConfigError("train.tokens", total_tokens, f"the train split has "
                              f"{self.available_tokens} tokens ({self.n_windows} windows of "
                              f"n_ctx={n_ctx}); use at most that, or set data.allow_repeat=true "
                              "to permit repetition")
        self.epochs = self.steps * batch_size / self.n_windows
        self.n_ctx, self.batch_size, self.seed = n_ctx, batch_size, seed
        self._tokens = tokens
        self._offsets = np.arange(n_ctx + 1)
        self._permutations: dict[int, np.ndarray] = {}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), int64 tensors of shape [batch_size, n_ctx], for optimizer step `step`."""
        if not 0 <= step < self.steps:
            raise ValueError(f"step={step} outside [0, {self.steps}), the run's optimizer steps")
        draws = step * self.batch_size + np.arange(self.batch_size)
        windows = self._windows_of_draws(draws)
        rows = self._tokens[(windows * self.n_ctx)[:, None] + self._offsets]
        sequences = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        return sequences[:, :-1].contiguous(), sequences[:, 1:].contiguous()

    def _windows_of_draws(self, draws: np.ndarray) -> np.ndarray:
        """Window index of each global draw number (draw d is position d % W of epoch d // W)."""
        epochs, positions = np.divmod(draws, self.n_windows)
        first, last = int(epochs[0]), int(epochs[-1])
        if first == last:
            return self._permutation(first)[positions]
        windows = np.empty_like(draws)
        for epoch in range(first, last + 1):
            in_epoch = epochs == epoch
            windows[in_epoch] = self._permutation(epoch)[positions[in_epoch]]
        return windows

    def _permutation(self, epoch: int) -> np.ndarray:
        """The window order of one epoch, from a Generator seeded by (seed, epoch).

        Seeding with the pair (not seed + epoch) keeps run seed 1 epoch 0 unrelated to run
        seed 0 epoch 1.
        """
        if epoch not in self._permutations:
            if len(self._permutations) >= CACHED_PERMUTATIONS:
                del self._permutations[min(self._permutations)]
            rng = np.random.default_rng([self.seed, epoch])
            self._permutations[epoch] = rng.permutation(self.n_windows)
        return self._permutations[epoch]


def test_windows(prepared: PreparedData, n_ctx: int, n_windows: int) -> torch.Tensor:
    """A fixed [n_windows, n_ctx+1] int64 tensor of held-out windows, evenly spaced over the test
    split; it depends only on the test tokens and n_ctx, never on a run's seed."""
    _require_positive("model.n_ctx", n_ctx)
    _require_positive("data.test_windows", n_windows)
    tokens = prepared.test_tokens
    available = window_count(len(tokens), n_ctx)
    if n_windows > available:
        raise ConfigError("data.test_windows", n_windows, f"the test split has {len(tokens)} "
                          f"tokens, {available} windows of n_ctx+1={n_ctx + 1}; use at most "
                          f"{available}, or raise data.test_permille")
    # Window i*available // n_windows for i < n_windows: strictly increasing, spread evenly.
    starts = (np.arange(n_windows) * available // n_windows) * n_ctx
    rows = tokens[starts[:, None] + np.arange(n_ctx + 1)]
    return torch.from_numpy(np.asarray(rows, dtype=np.int64))


# The name starts with "test_"; tell pytest it is not a test when a test module imports it.
test_windows.__test__ = False
