"""Documents of a text corpus, the stable train/test split rule and the corpus fingerprint."""

import hashlib
from dataclasses import dataclass

from configs.data import PERMILLE
from configs.errors import ConfigError

# Bumped whenever the split rule or the fingerprint's byte layout changes, so old caches are
# never mistaken for new ones.
FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class Document:
    """One document: its key (relative path, path:record, or content hash) and its text."""

    key: str
    text: str


@dataclass(frozen=True)
class SplitCorpus:
    """A text corpus split into train and test documents, with its fingerprint."""

    name: str
    train: list[Document]
    test: list[Document]
    fingerprint: str
    skipped_files: int


def is_test_key(key: str, test_permille: int) -> bool:
    """The split rule: sha256(key) mod 1000 < test_permille. Stable across processes and machines
    (unlike Python's salted hash()), and a document's side never depends on the other documents."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % PERMILLE < test_permille


def fingerprint(documents: list[Document], test_permille: int) -> str:
    """sha256 over the split rule and every (key, text) in order; identifies the train/test text.

    Each field is length-prefixed so that no two different corpora hash the same bytes.
    """
    hasher = hashlib.sha256()
    _update(hasher, f"scalinglab-documents-v{FINGERPRINT_VERSION}:test_permille={test_permille}")
    for document in documents:
        _update(hasher, document.key)
        _update(hasher, document.text)
    return hasher.hexdigest()


def _update(hasher: "hashlib._Hash", text: str) -> None:
    """Feed one length-prefixed UTF-8 field to the hasher."""
    data = text.encode("utf-8")
    hasher.update(len(data).to_bytes(8, "big"))
    hasher.update(data)


def split_corpus(name: str, documents: list[Document], test_permille: int,
                 skipped_files: int) -> SplitCorpus:
    """Split documents by `is_test_key`; ConfigError if either side ends up empty.

    Documents with empty text (e.g. empty __init__.py files) carry no tokens and are dropped, so
    they cannot put runs of end-of-document tokens into the stream.
    """
    documents = [d for d in documents if d.text]
    train, test = [], []
    for document in documents:
        (test if is_test_key(document.key, test_permille) else train).append(document)
    for side, docs in (("train", train), ("test", test)):
        if not docs:
            raise ConfigError("data.test_permille", test_permille,
                              f"the {name} corpus has {len(documents)} documents and the hashed "
                              f"split left the {side} side empty; change test_permille or add data")
    return SplitCorpus(name, train, test, fingerprint(documents, test_permille), skipped_files)
