"""The on-disk cache of tokenizers and token ids, safe for concurrent sweep workers.

Every file is written with harness.store.atomic_write_bytes (a temporary file in its final
directory, fsynced and moved into place with os.replace), so a reader sees either no file or a
complete one. A per-entry lock
file (fcntl.flock) makes concurrent workers wait for the first one instead of building the same
entry again; the lock only saves work, the atomic replace alone already prevents corruption.
"""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.store import atomic_write_bytes

# Token ids are stored in this dtype; configs.data.MAX_VOCAB_SIZE keeps every id inside it.
TOKEN_DTYPE = np.uint16


def cache_entry(cache_dir: str, corpus: str, fingerprint: str) -> Path:
    """Directory of one corpus version: <cache_dir>/<corpus>-<first 16 hex of fingerprint>."""
    return Path(os.path.expanduser(cache_dir)) / f"{corpus}-{fingerprint[:16]}"


@contextmanager
def entry_lock(directory: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on <directory>/<name>.lock (created with the directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def save_tokens(path: Path, tokens: np.ndarray) -> None:
    """Store token ids atomically as a .npy of TOKEN_DTYPE."""
    def write(temporary: str) -> None:
        with open(temporary, "wb") as out:
            np.save(out, np.asarray(tokens, dtype=TOKEN_DTYPE))

    atomic_write_bytes(path, write)


def load_tokens(path: Path) -> np.ndarray:
    """Token ids as a read-only memory map."""
    return np.load(path, mmap_mode="r")
