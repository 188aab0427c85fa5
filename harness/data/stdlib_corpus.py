"""The "stdlib" corpus: the .py sources of the running interpreter's standard library.

Embedded in every Python installation, so it needs no network. Its content (and so its
fingerprint) depends on the Python version; the fingerprint records which text a run saw.
"""

import logging
import os
import sysconfig
from pathlib import Path
from typing import Optional

from harness.data.documents import Document, SplitCorpus, split_corpus

log = logging.getLogger(__name__)

# Third-party packages installed into the interpreter are not the standard library.
# (The stdlib's own test/ directories are kept: they are ordinary Python source.)
EXCLUDED_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})


def stdlib_root() -> Path:
    """Directory of the running interpreter's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_paths(root: Path) -> list[str]:
    """Relative POSIX paths of every .py file under root, sorted, excluding EXCLUDED_DIRS."""
    paths = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in EXCLUDED_DIRS]
        for name in files:
            if name.endswith(".py"):
                paths.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(paths)


_WARNED: set[tuple[str, tuple[str, ...]]] = set()  # (root, skipped files) already named in a warning


def read_utf8_documents(root: Path, relative_paths: list[str]) -> tuple[list[Document], int]:
    """Read files as strict UTF-8; files that are not valid UTF-8 are skipped and counted.

    The stdlib holds a few deliberately mis-encoded test fixtures (e.g. latin-1 files that test
    PEP 263 coding cookies); decoding them with a guessed codec would feed the tokenizer
    mojibake, and failing would make the corpus unusable, so they are left out and counted.
    """
    documents, skipped = [], []
    for relative in relative_paths:
        try:
            text = (root / relative).read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(relative)
            continue
        documents.append(Document(relative, text))
    if skipped and (str(root), tuple(skipped)) not in _WARNED:  # once per process, not once per run
        _WARNED.add((str(root), tuple(skipped)))
        log.warning("skipped %d of %d files under %s that are not valid UTF-8: %s",
                    len(skipped), len(relative_paths), root, ", ".join(skipped))
    return documents, len(skipped)


def load_stdlib(test_permille: int, max_files: Optional[int]) -> SplitCorpus:
    """The stdlib corpus split by the hash of each file's relative path."""
    root = stdlib_root()
    paths = stdlib_paths(root)
    if max_files is not None:
        paths = paths[:max_files]
    documents, skipped = read_utf8_documents(root, paths)
    return split_corpus("stdlib", documents, test_permille, skipped)
