"""The data pipeline: corpus -> train/test split -> byte-level BPE -> cached token ids -> batches.

    prepared = prepare_data(cfg.data)                       # PreparedData, cached on disk
    sampler = TrainWindows(prepared.train_tokens, n_ctx, batch_size, tokens, seed, allow_repeat)
    x, y = sampler.batch(step)                              # [batch_size, n_ctx] int64 each
    held_out = test_windows(prepared, n_ctx, cfg.data.test_windows)  # [n, n_ctx+1] int64
"""

from harness.data.prepare import PreparedData, prepare_data, prepare_once
from harness.data.windows import TrainWindows, test_windows

__all__ = ["PreparedData", "TrainWindows", "prepare_data", "prepare_once", "test_windows"]
