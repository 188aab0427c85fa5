"""prepare_data: config in, train/test token-id memory maps out, built once and cached on disk.

Cache layout (one entry per corpus version, i.e. per fingerprint):
    <cache_dir>/<corpus>-<fingerprint[:16]>/bpe-<vocab>.json        the trained tokenizer
    <cache_dir>/<corpus>-<fingerprint[:16]>/{train,test}-bpe-<vocab>.npy  uint16 token ids
    <cache_dir>/markov-<fingerprint[:16]>/{train,test}.npy               sampled symbols
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from configs.data import DataConfig
from harness.data.bpe import encode_documents, load_bpe, train_bpe
from harness.data.cache import cache_entry, entry_lock, load_tokens, save_tokens
from harness.data.documents import Document, SplitCorpus
from harness.data.hf_corpus import load_hf
from harness.data.markov import build_chain, entropy_rate_nats, markov_fingerprint, sample_streams
from harness.data.stdlib_corpus import load_stdlib
from harness.data.text_files import load_text_files
from harness.store import atomic_write_bytes


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A corpus ready for training: token ids of both splits and what identifies them."""

    corpus: str
    fingerprint: str  # sha256 of the train/test text (or of the synthetic corpus' config)
    vocab_size: int  # actual vocabulary size: the BPE's, or the Markov chain's n_symbols
    train_tokens: np.ndarray  # uint16 read-only memory map
    test_tokens: np.ndarray  # uint16 read-only memory map
    entropy_rate_nats: float  # exact entropy rate (nats/token) of "markov"; NaN otherwise
    skipped_files: int  # files left out because they are not valid UTF-8
    tokenizer_path: Optional[str]  # the cached tokenizer JSON; None for "markov"


def prepare_data(cfg: DataConfig) -> PreparedData:
    """Load, split, tokenize and cache the configured corpus (each step only once per cache)."""
    if cfg.corpus == "markov":
        return prepare_markov(cfg)
    return prepare_text(cfg, load_text_corpus(cfg))


def prepare_once(cfg: DataConfig, prepared: dict) -> PreparedData:
    """prepare_data(cfg), kept in `prepared` (the caller's dict) by the config's content, so that many
    runs over the same corpus open and check its cache once."""
    key = json.dumps(cfg.__dict__, default=str, sort_keys=True)
    if key not in prepared:
        prepared[key] = prepare_data(cfg)
    return prepared[key]


def load_text_corpus(cfg: DataConfig) -> SplitCorpus:
    """The configured text corpus, split into train and test documents."""
    if cfg.corpus == "stdlib":
        return load_stdlib(cfg.test_permille, cfg.stdlib_max_files)
    if cfg.corpus == "hf":
        return load_hf(cfg.hf, cfg.test_permille)
    return load_text_files(cfg.text_files, cfg.test_permille)


def prepare_text(cfg: DataConfig, corpus: SplitCorpus) -> PreparedData:
    """Train (or reuse) the BPE on the train split and encode (or reuse) both splits."""
    entry = cache_entry(cfg.cache_dir, corpus.name, corpus.fingerprint)
    name = f"bpe-{cfg.vocab_size}"
    with entry_lock(entry, name):
        tokenizer_path = cached_tokenizer(entry / f"{name}.json", corpus.train, cfg.vocab_size)
        tokenizer = load_bpe(str(tokenizer_path))
        splits = {}
        for split, documents in (("train", corpus.train), ("test", corpus.test)):
            path = entry / f"{split}-{name}.npy"
            if not path.exists():
                save_tokens(path, encode_documents(tokenizer, texts(documents)))
            splits[split] = load_tokens(path)
    return PreparedData(corpus.name, corpus.fingerprint, tokenizer.get_vocab_size(),
                        splits["train"], splits["test"], math.nan, corpus.skipped_files,
                        str(tokenizer_path))


def cached_tokenizer(path: Path, train: list[Document], vocab_size: int) -> Path:
    """Path of the tokenizer trained on the train documents, training it if it is not cached."""
    if not path.exists():
        tokenizer = train_bpe(texts(train), vocab_size)
        atomic_write_bytes(path, tokenizer.save)
    return path


def texts(documents: list[Document]) -> list[str]:
    """The documents' texts, in order."""
    return [document.text for document in documents]


def prepare_markov(cfg: DataConfig) -> PreparedData:
    """Sample (or reuse) the chain's train and test streams and compute its entropy rate."""
    fingerprint = markov_fingerprint(cfg.markov)
    entry = cache_entry(cfg.cache_dir, "markov", fingerprint)
    train_path, test_path = entry / "train.npy", entry / "test.npy"
    with entry_lock(entry, "streams"):
        if not (train_path.exists() and test_path.exists()):
            train, test = sample_streams(cfg.markov)
            save_tokens(train_path, train)
            save_tokens(test_path, test)
    return PreparedData("markov", fingerprint, cfg.markov.n_symbols, load_tokens(train_path),
                        load_tokens(test_path), entropy_rate_nats(build_chain(cfg.markov)),
                        skipped_files=0, tokenizer_path=None)
