"""Bad corpora: an empty corpus is an error naming its files (exit 2, results untouched); files that are not
valid UTF-8 are skipped, counted and named in a warning (the policy in docs/guarantees.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from configs.data import DataConfig, TextFilesConfig
from configs.errors import ConfigError
from harness.data import prepare_data
from harness.data.stdlib_corpus import stdlib_root

# Real text for the BPE; with test_permille=500 the hashed split of these names puts files on both sides.
STDLIB_SOURCES = ("json/__init__.py", "logging/__init__.py", "subprocess.py", "argparse.py", "shutil.py",
                  "textwrap.py", "string.py")
LATIN1 = "caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1")  # \xe9 alone is not valid UTF-8


def _existing_results(folder: Path, write_fake_run) -> dict:
    """A results folder holding one earlier run; returns its files' bytes for a before/after comparison."""
    write_fake_run(folder, "earlier")
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_empty_corpus_stops_the_sweep_naming_its_files_and_leaves_results_alone(tmp_path, run_script,
                                                                                 write_fake_run):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.txt", "b.txt"):
        (corpus / name).write_bytes(b"")
    results = tmp_path / "results"
    before = _existing_results(results, write_fake_run)
    done = run_script("sweep.py", ["sweep=smoke", "data.corpus=text_files", f"data.text_files.globs=[{corpus}/*.txt]",
                                   f"sweep.results_dir={results}"], tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if "invalid config" in line]
    assert len(errors) == 1 and "data.text_files.globs" in errors[0]
    assert str(corpus / "a.txt") in errors[0] and str(corpus / "b.txt") in errors[0]
    assert "Traceback" not in done.stdout
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before


def test_corpus_of_only_non_utf8_files_is_an_error_naming_them(tmp_path):
    (tmp_path / "latin1.txt").write_bytes(LATIN1)
    cfg = DataConfig(corpus="text_files", text_files=TextFilesConfig(globs=[str(tmp_path / "*.txt")]),
                     cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="latin1.txt.*1 not valid UTF-8") as raised:
        prepare_data(cfg)
    assert raised.value.field == "data.text_files.globs"


def test_non_utf8_file_is_skipped_counted_and_named_in_a_warning(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in STDLIB_SOURCES:
        (corpus / f"{name.replace('/', '_')}.txt").write_text((stdlib_root() / name).read_text(encoding="utf-8"))
    (corpus / "latin1.txt").write_bytes(LATIN1)
    cfg = DataConfig(corpus="text_files", text_files=TextFilesConfig(globs=[str(corpus / "*.txt")]),
                     test_permille=500, vocab_size=300, cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        data = prepare_data(cfg)
    assert data.skipped_files == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "latin1.txt" in warnings[0] and "not valid UTF-8" in warnings[0]
    assert len(data.train_tokens) > 0 and len(data.test_tokens) > 0
