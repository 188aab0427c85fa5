"""Byte-level BPE (GPT-2 style) trained with the `tokenizers` library, and corpus encoding.

The vocabulary is: id 0 the end-of-document token, then the 256 byte symbols, then merges.
Byte-level means no unknown tokens: every text, in any script, has an encoding.
"""

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from configs.errors import ConfigError
from harness.data.cache import TOKEN_DTYPE

# Appended after every document, so a model sees where one ends and the next begins.
EOD_TOKEN = "<|endoftext|>"
# A pair must occur at least twice to become a merge: a merge seen once only memorizes one spot.
MIN_PAIR_FREQUENCY = 2
# Documents handed to one encode_batch_fast call (the Rust side spreads them over threads);
# bounds the memory of the intermediate Encoding objects.
ENCODE_BATCH_DOCUMENTS = 512


def new_bpe_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE tokenizer."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_bpe(texts: list[str], vocab_size: int) -> Tokenizer:
    """BPE with exactly vocab_size tokens trained on texts; ConfigError if they support fewer."""
    tokenizer = new_bpe_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=MIN_PAIR_FREQUENCY,
        special_tokens=[EOD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    learned = tokenizer.get_vocab_size()
    if learned < vocab_size:
        raise ConfigError("data.vocab_size", vocab_size,
                          f"the train split supports only {learned} tokens (no pair left that "
                          f"occurs {MIN_PAIR_FREQUENCY}+ times); use at most {learned} or more data")
    return configured(tokenizer)


def configured(tokenizer: Tokenizer) -> Tokenizer:
    """Encode a literal "<|endoftext|>" inside a text as ordinary bytes, never as the EOD id."""
    tokenizer.encode_special_tokens = True
    return tokenizer


def load_bpe(path: str) -> Tokenizer:
    """A tokenizer saved by `Tokenizer.save`."""
    return configured(Tokenizer.from_file(path))


def encode_documents(tokenizer: Tokenizer, texts: list[str]) -> np.ndarray:
    """One stream of token ids: each text's encoding followed by the end-of-document id."""
    eod = np.array([tokenizer.token_to_id(EOD_TOKEN)], dtype=TOKEN_DTYPE)
    pieces = []
    for start in range(0, len(texts), ENCODE_BATCH_DOCUMENTS):
        batch = texts[start:start + ENCODE_BATCH_DOCUMENTS]
        for encoding in tokenizer.encode_batch_fast(batch, add_special_tokens=False):
            pieces.append(np.asarray(encoding.ids, dtype=TOKEN_DTYPE))
            pieces.append(eod)
    return np.concatenate(pieces) if pieces else np.empty(0, dtype=TOKEN_DTYPE)
