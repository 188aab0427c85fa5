"""TrainWindows and test_windows on a synthetic stream where token i has id i, so every window
says where it starts."""

import time

import numpy as np
import pytest
import torch

from configs.errors import ConfigError
from harness.data import PreparedData, TrainWindows, test_windows

N_CTX = 8
BATCH = 4
N_TOKENS = 8 * 100 + 1  # exactly 100 windows of N_CTX + 1 tokens


def stream(n_tokens: int = N_TOKENS) -> np.ndarray:
    return np.arange(n_tokens, dtype=np.uint16)


def sampler(total_tokens: int = 800, seed: int = 0, allow_repeat: bool = False,
            tokens: np.ndarray = None) -> TrainWindows:
    tokens = stream() if tokens is None else tokens
    return TrainWindows(tokens, N_CTX, BATCH, total_tokens, seed, allow_repeat)


def window_starts(windows: TrainWindows) -> list[int]:
    """Start position of every window of every batch, in order."""
    return [int(s) for step in range(windows.steps) for s in windows.batch(step)[0][:, 0]]


def prepared_with_test_tokens(tokens: np.ndarray) -> PreparedData:
    return PreparedData("synthetic", "f" * 64, 65536, stream(), tokens, float("nan"), 0, None)


def test_batch_is_inputs_and_next_token_targets():
    x, y = sampler().batch(0)
    assert x.shape == y.shape == (BATCH, N_CTX)
    assert x.dtype == y.dtype == torch.int64
    assert torch.equal(y, x + 1)
    assert all(int(start) % N_CTX == 0 for start in x[:, 0])


def test_steps_and_epochs_of_one_pass():
    windows = sampler(total_tokens=800)
    assert (windows.n_windows, windows.available_tokens, windows.steps) == (100, 800, 25)
    assert windows.epochs == pytest.approx(1.0)


def test_one_epoch_visits_every_window_once():
    assert sorted(window_starts(sampler(total_tokens=800))) == list(range(0, 800, N_CTX))


def test_same_seed_gives_the_same_batches():
    assert window_starts(sampler(seed=3)) == window_starts(sampler(seed=3))


def test_different_seed_gives_different_batches():
    assert window_starts(sampler(seed=3)) != window_starts(sampler(seed=4))


def test_resumed_sampler_continues_where_an_uninterrupted_run_is():
    uninterrupted = sampler(total_tokens=2400, allow_repeat=True)
    expected = [uninterrupted.batch(step)[0] for step in range(uninterrupted.steps)]
    for step in (0, 7, 24, 25, 26, 74):
        resumed = sampler(total_tokens=2400, allow_repeat=True)
        assert torch.equal(resumed.batch(step)[0], expected[step])


def test_repetition_records_epochs_and_reshuffles_each_epoch():
    windows = sampler(total_tokens=2000, allow_repeat=True)
    assert windows.steps == 62
    assert windows.epochs == pytest.approx(62 * BATCH / 100)
    starts = window_starts(windows)
    first, second = starts[:100], starts[100:200]
    assert sorted(first) == sorted(second) == list(range(0, 800, N_CTX))
    assert first != second


def test_batches_straddling_an_epoch_boundary_keep_each_epoch_distinct():
    tokens = stream(8 * 10 + 1)  # 10 windows, batches of 4: batch 2 holds draws 8..11
    windows = sampler(total_tokens=8 * 40, allow_repeat=True, tokens=tokens)
    starts = window_starts(windows)
    for epoch in range(4):
        assert sorted(starts[10 * epoch:10 * epoch + 10]) == list(range(0, 80, N_CTX))


def test_budget_below_one_batch_is_rejected():
    with pytest.raises(ConfigError, match="at least one batch") as error:
        sampler(total_tokens=BATCH * N_CTX - 1)
    assert error.value.field == "train.tokens"


def test_budget_beyond_the_split_needs_allow_repeat():
    with pytest.raises(ConfigError, match="800 tokens.*data.allow_repeat=true") as error:
        sampler(total_tokens=832)
    assert error.value.field == "train.tokens"


def test_context_longer_than_the_split_is_rejected():
    with pytest.raises(ConfigError) as error:
        TrainWindows(stream(8), 8, 1, 8, 0, True)
    assert error.value.field == "model.n_ctx"


@pytest.mark.parametrize("field, args", [
    ("model.n_ctx", (0, BATCH, 800)),
    ("train.batch_size", (N_CTX, 0, 800)),
    ("train.tokens", (N_CTX, BATCH, -1)),
])
def test_non_positive_sizes_are_rejected(field, args):
    with pytest.raises(ConfigError, match="positive") as error:
        TrainWindows(stream(), *args, 0, False)
    assert error.value.field == field


def test_step_outside_the_run_is_an_error():
    with pytest.raises(ValueError, match="step=25"):
        sampler(total_tokens=800).batch(25)


def test_batch_costs_well_under_a_millisecond():
    tokens = np.random.default_rng(0).integers(0, 1024, size=2_000_000, dtype=np.uint16)
    windows = TrainWindows(tokens, 128, 32, 1_000_000, 0, False)
    windows.batch(0)  # builds the epoch permutation once
    start = time.perf_counter()
    for step in range(200):
        windows.batch(step)
    # Generous bound for a shared CI core; typically ~50 microseconds.
    assert (time.perf_counter() - start) / 200 < 2e-3


def test_test_windows_are_fixed_evenly_spaced_windows():
    windows = test_windows(prepared_with_test_tokens(stream()), N_CTX, 4)
    assert windows.shape == (4, N_CTX + 1) and windows.dtype == torch.int64
    assert windows[:, 0].tolist() == [0, 200, 400, 600]
    assert torch.equal(windows, test_windows(prepared_with_test_tokens(stream()), N_CTX, 4))


def test_more_test_windows_than_the_split_holds_is_rejected():
    with pytest.raises(ConfigError, match="100 windows") as error:
        test_windows(prepared_with_test_tokens(stream()), N_CTX, 101)
    assert error.value.field == "data.test_windows"
