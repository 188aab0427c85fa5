"""Structured config of the data pipeline: which corpus, how it is split, tokenized and cached.

Every default number of the data pipeline lives here. Validation runs in `__post_init__`, so a
bad value fails when Hydra builds the config object (`OmegaConf.to_object`), before any file is
read or written.
"""

from dataclasses import dataclass, field
from typing import Optional

from configs.errors import ConfigError, require_finite_floats

# Corpora `harness.data.prepare_data` knows how to build; `corpus` must be one of them.
CORPORA = ("stdlib", "hf", "text_files", "markov")

# Token ids are stored as uint16 memory maps; a larger vocabulary would not fit the dtype.
MAX_VOCAB_SIZE = 2**16

# Byte-level BPE starts from the 256 byte symbols plus the end-of-document token, so a smaller
# vocabulary cannot even represent the alphabet.
MIN_BPE_VOCAB_SIZE = 257

# Largest Markov transition table (contexts x symbols = n_symbols**(order+1) int32 entries, 1 GiB)
# the synthetic corpus may build.
MAX_MARKOV_TABLE_ENTRIES = 2**28

# The split rule takes sha256(key) mod 1000 < test_permille, so permille lies in [1, 999].
PERMILLE = 1000


def _require_positive(name: str, value: Optional[int]) -> None:
    """Raise ConfigError unless value is None or a positive integer."""
    if value is not None and value <= 0:
        raise ConfigError(name, value, "must be a positive integer")


@dataclass
class HFDataConfig:
    """A Hugging Face dataset read with `datasets.load_dataset(name, config_name, split=split)`."""

    # Dataset name on the Hub ("wikitext", "openwebtext") or a builder name for local files
    # ("json", "parquet", "text") together with `data_files`. Required when corpus="hf".
    name: Optional[str] = None
    # Dataset configuration ("wikitext-103-raw-v1"); None for datasets that have only one.
    config_name: Optional[str] = None
    # The split that is read ("train", or a slice like "train[:10%]"). Our own train/test split
    # is hashed out of it by document content (see harness/data/hf_corpus.py).
    split: str = "train"
    # Column holding the document text.
    text_column: str = "text"
    # Local files for builder names such as "json"/"parquet"/"text"; empty for Hub datasets.
    data_files: list[str] = field(default_factory=list)


@dataclass
class TextFilesConfig:
    """Local files chosen by glob: .jsonl and .parquet hold records, any other suffix is plain text."""

    # Glob patterns (recursive "**" allowed). Each must match at least one file.
    globs: list[str] = field(default_factory=list)
    # Field of each .jsonl record and column of each .parquet file that holds the text.
    text_field: str = "text"


@dataclass
class MarkovConfig:
    """A seeded order-k Markov chain over V symbols with Zipf-law next-symbol distributions.

    It emits token ids directly (vocabulary = n_symbols) and has an exactly known entropy rate h.
    For order 1, h is the floor a perfect model reaches on the test windows; for order >= 2 the first
    k - 1 targets of a window see fewer than k symbols, so that floor is slightly above h
    (docs/deviations.md).
    """

    # V, the number of symbols and so the vocabulary size of the model trained on it.
    n_symbols: int = 64
    # k, how many previous symbols the next-symbol distribution depends on (V**k contexts).
    order: int = 2
    # s of Zipf(s): P(rank r) proportional to r**-s over each context's permuted symbols.
    zipf_exponent: float = 1.0
    # Only the m most probable ranks get probability; None means all n_symbols.
    support: Optional[int] = None
    # Seed of the transition tables and of both sampled streams.
    seed: int = 0
    # Length of the train stream. 10M is about the tokenized stdlib corpus at vocab 1024, so
    # both corpora support the same token budgets.
    train_tokens: int = 10_000_000
    # Length of the test stream, sampled with its own seed (independent of the train stream).
    test_tokens: int = 500_000

    def __post_init__(self) -> None:
        require_finite_floats(self, "data.markov")
        for name in ("n_symbols", "order", "support", "train_tokens", "test_tokens"):
            _require_positive(f"data.markov.{name}", getattr(self, name))
        if self.n_symbols > MAX_VOCAB_SIZE:
            raise ConfigError("data.markov.n_symbols", self.n_symbols,
                              f"must be <= {MAX_VOCAB_SIZE} (token ids are stored as uint16)")
        if self.n_symbols ** (self.order + 1) > MAX_MARKOV_TABLE_ENTRIES:
            raise ConfigError("data.markov.order", self.order,
                              f"n_symbols**(order+1) = {self.n_symbols ** (self.order + 1)} table "
                              f"entries; must be <= {MAX_MARKOV_TABLE_ENTRIES}")
        if self.zipf_exponent < 0:
            raise ConfigError("data.markov.zipf_exponent", self.zipf_exponent, "must be >= 0")
        if self.support is not None and self.support > self.n_symbols:
            raise ConfigError("data.markov.support", self.support,
                              f"must be None or at most n_symbols={self.n_symbols}")


@dataclass
class DataConfig:
    """Which corpus a run trains on and how it is split, tokenized and cached."""

    # One of CORPORA: "stdlib" (the interpreter's own standard-library .py sources, no network),
    # "hf" (a Hugging Face dataset), "text_files" (local files by glob), "markov" (synthetic).
    corpus: str = "stdlib"
    # Byte-level BPE vocabulary size (ignored by "markov", whose vocabulary is n_symbols). Small
    # for toy models: the embedding and logit matrices (vocab x d_model) must not dominate a tiny
    # model's parameters; Kaplan's N excludes embeddings, but the logit layer still costs compute.
    vocab_size: int = 1024
    # Directory of the tokenizer and token-id caches, shared by every run of a sweep.
    cache_dir: str = "~/.cache/scalinglab/data"
    # Held-out share in permille: a document goes to test when sha256(key) mod 1000 < this.
    # At 50 the stdlib (Python 3.11) holds out 94 files, 0.8M tokens: a low-noise test loss.
    test_permille: int = 50
    # Take only the first k stdlib files in sorted path order (tests, smoke runs); None = all.
    stdlib_max_files: Optional[int] = None
    # Whether a token budget larger than the train split may repeat data (epochs > 1).
    allow_repeat: bool = False
    # Number of fixed held-out windows of n_ctx+1 tokens every test-loss evaluation uses.
    test_windows: int = 256
    hf: HFDataConfig = field(default_factory=HFDataConfig)
    text_files: TextFilesConfig = field(default_factory=TextFilesConfig)
    markov: MarkovConfig = field(default_factory=MarkovConfig)

    def __post_init__(self) -> None:
        if self.corpus not in CORPORA:
            raise ConfigError("data.corpus", self.corpus, f"must be one of {list(CORPORA)}")
        for name in ("vocab_size", "stdlib_max_files", "test_windows"):
            _require_positive(f"data.{name}", getattr(self, name))
        if not MIN_BPE_VOCAB_SIZE <= self.vocab_size <= MAX_VOCAB_SIZE:
            raise ConfigError("data.vocab_size", self.vocab_size,
                              f"must lie in [{MIN_BPE_VOCAB_SIZE}, {MAX_VOCAB_SIZE}]: 256 byte "
                              "symbols + end-of-document at least; token ids are stored as uint16")
        if not 0 < self.test_permille < PERMILLE:
            raise ConfigError("data.test_permille", self.test_permille,
                              f"must lie in [1, {PERMILLE - 1}]")
        if self.corpus == "hf" and not self.hf.name:
            raise ConfigError("data.hf.name", self.hf.name,
                              'required when corpus="hf": a Hub dataset or a builder such as "json"')
        if self.corpus == "text_files" and not self.text_files.globs:
            raise ConfigError("data.text_files.globs", self.text_files.globs,
                              'required when corpus="text_files": at least one glob pattern')
