"""The "text_files" corpus: local files chosen by glob patterns.

A .jsonl file holds one document per record (its `text_field`), a .parquet file one per row (its
`text_field` column); any other file is one plain-text document. Keys are paths relative to the
pattern's fixed leading directory, so moving the whole tree keeps the split and the fingerprint;
records get "path:index" keys, so one large .jsonl file is split record by record.
"""

import glob
import json
import logging
import os
from pathlib import Path

from configs.data import TextFilesConfig
from configs.errors import ConfigError
from harness.data.documents import Document, SplitCorpus, split_corpus
from harness.data.stdlib_corpus import read_utf8_documents

log = logging.getLogger(__name__)

GLOB_MAGIC = frozenset("*?[")


def glob_root(pattern: str) -> Path:
    """The leading directories of a pattern that contain no glob wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if GLOB_MAGIC & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def matched_files(globs: list[str]) -> list[tuple[Path, str]]:
    """(absolute path, key) of every file the patterns match, sorted by key, duplicates dropped.

    A pattern that matches no file raises ConfigError naming it.
    """
    found: dict[Path, str] = {}
    for pattern in globs:
        pattern = os.path.expanduser(pattern)
        files = [Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not files:
            raise ConfigError("data.text_files.globs", pattern,
                              "matches no file; give patterns of existing files (recursive ** allowed)")
        root = glob_root(pattern)
        for path in files:
            found.setdefault(path.resolve(), path.relative_to(root).as_posix())
    return sorted(((path, key) for path, key in found.items()), key=lambda item: (item[1], item[0]))


def jsonl_texts(path: Path, text_field: str) -> list[str]:
    """The text field of every non-blank line of a .jsonl file."""
    texts = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError("data.text_files.globs", str(path),
                                  f"line {number} is not valid JSON ({error}); .jsonl files must "
                                  "hold one JSON object per line") from error
            texts.append(_text_value(record.get(text_field) if isinstance(record, dict) else None,
                                     text_field, f"{path} line {number}"))
    return texts


def parquet_texts(path: Path, text_field: str) -> list[str]:
    """The text column of a .parquet file."""
    import pyarrow.parquet as pq

    columns = pq.read_schema(path).names
    if text_field not in columns:
        raise ConfigError("data.text_files.text_field", text_field,
                          f"{path} has no such column; its columns are {columns}")
    values = pq.read_table(path, columns=[text_field]).column(text_field).to_pylist()
    return [_text_value(value, text_field, f"{path} row {row}") for row, value in enumerate(values)]


def _text_value(value: object, text_field: str, where: str) -> str:
    """The value itself if it is a string; otherwise ConfigError naming the field and the place."""
    if not isinstance(value, str):
        raise ConfigError("data.text_files.text_field", text_field,
                          f"{where} has {type(value).__name__} there; each record needs a string")
    return value


def record_documents(path: Path, key: str, text_field: str) -> list[Document]:
    """The documents of a .jsonl or .parquet file, keyed "key:index"."""
    reader = jsonl_texts if path.suffix == ".jsonl" else parquet_texts
    return [Document(f"{key}:{index}", text) for index, text in enumerate(reader(path, text_field))]


def load_text_files(config: TextFilesConfig, test_permille: int) -> SplitCorpus:
    """The text_files corpus split by the hash of each document key; ConfigError if no file holds text."""
    documents, skipped = [], 0
    files = matched_files(config.globs)
    for path, key in files:
        if path.suffix in (".jsonl", ".parquet"):
            try:
                documents.extend(record_documents(path, key, config.text_field))
            except UnicodeDecodeError:
                skipped += 1
                log.warning("skipped %s: not valid UTF-8", path)
        else:
            read, not_utf8 = read_utf8_documents(path.parent, [path.name])
            documents.extend(Document(key, d.text) for d in read)
            skipped += not_utf8
    if not any(document.text for document in documents):
        shown = ", ".join(str(path) for path, _ in files[:5]) + (", ..." if len(files) > 5 else "")
        raise ConfigError("data.text_files.globs", config.globs,
                          f"the {len(files)} matched files ({shown}) hold no text ({skipped} not valid "
                          "UTF-8, the rest empty); give patterns of non-empty UTF-8 files")
    return split_corpus("text_files", documents, test_permille, skipped)
