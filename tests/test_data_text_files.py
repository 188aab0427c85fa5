"""The text_files corpus: plain text, .jsonl and .parquet files chosen by glob."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs.data import DataConfig, TextFilesConfig
from configs.errors import ConfigError
from harness.data import prepare_data
from harness.data.text_files import glob_root, load_text_files

PERMILLE = 300
WORDS = "the model learns a power law in compute data and parameters of every size".split()


def sentence(seed: int, n_words: int = 60) -> str:
    return " ".join(WORDS[(seed * 7 + i * i) % len(WORDS)] for i in range(n_words)) + ".\n"


def write_tree(root: Path, n_plain: int = 20) -> None:
    (root / "notes").mkdir(parents=True)
    for i in range(n_plain):
        (root / "notes" / f"note{i:02d}.txt").write_text(sentence(i) * 3, encoding="utf-8")
    (root / "notes" / "readme.md").write_text(sentence(99), encoding="utf-8")
    with open(root / "records.jsonl", "w", encoding="utf-8") as out:
        for i in range(10):
            out.write(json.dumps({"body": sentence(100 + i), "id": i}) + "\n")
    pq.write_table(pa.table({"body": [sentence(200 + i) for i in range(10)]}), root / "rows.parquet")


def text_files_config(root: Path) -> TextFilesConfig:
    return TextFilesConfig(globs=[f"{root}/notes/**/*", f"{root}/*.jsonl", f"{root}/*.parquet"],
                           text_field="body")


def test_every_file_kind_becomes_documents(tmp_path):
    write_tree(tmp_path)
    corpus = load_text_files(text_files_config(tmp_path), PERMILLE)
    keys = {d.key for d in corpus.train + corpus.test}
    assert {"note00.txt", "readme.md", "records.jsonl:0", "rows.parquet:9"} <= keys
    assert len(keys) == 21 + 10 + 10
    texts = {d.key: d.text for d in corpus.train + corpus.test}
    assert texts["records.jsonl:3"] == sentence(103)
    assert texts["rows.parquet:9"] == sentence(209)


def test_plain_files_are_split_whole_by_path(tmp_path):
    write_tree(tmp_path)
    corpus = load_text_files(text_files_config(tmp_path), PERMILLE)
    train, test = {d.key for d in corpus.train}, {d.key for d in corpus.test}
    assert train and test and not train & test


def test_glob_matching_nothing_names_the_field_and_the_pattern(tmp_path):
    pattern = f"{tmp_path}/missing/*.txt"
    with pytest.raises(ConfigError, match="matches no file") as error:
        prepare_data(DataConfig(corpus="text_files", cache_dir=str(tmp_path / "cache"),
                                text_files=TextFilesConfig(globs=[pattern])))
    assert (error.value.field, error.value.value) == ("data.text_files.globs", pattern)
    assert not (tmp_path / "cache").exists()


def test_missing_jsonl_field_is_a_config_error(tmp_path):
    write_tree(tmp_path)
    config = TextFilesConfig(globs=[f"{tmp_path}/*.jsonl"], text_field="text")
    with pytest.raises(ConfigError, match="records.jsonl line 1") as error:
        load_text_files(config, PERMILLE)
    assert error.value.field == "data.text_files.text_field"


def test_missing_parquet_column_lists_the_columns(tmp_path):
    write_tree(tmp_path)
    config = TextFilesConfig(globs=[f"{tmp_path}/*.parquet"], text_field="text")
    with pytest.raises(ConfigError, match=r"\['body'\]"):
        load_text_files(config, PERMILLE)


def test_fingerprint_is_stable_and_follows_the_content(tmp_path):
    write_tree(tmp_path)
    config = text_files_config(tmp_path)
    before = load_text_files(config, PERMILLE).fingerprint
    assert load_text_files(config, PERMILLE).fingerprint == before
    (tmp_path / "notes" / "note03.txt").write_text("changed\n", encoding="utf-8")
    assert load_text_files(config, PERMILLE).fingerprint != before


def test_fingerprint_survives_moving_the_tree(tmp_path):
    write_tree(tmp_path / "a")
    write_tree(tmp_path / "b" / "deeper")
    first = load_text_files(text_files_config(tmp_path / "a"), PERMILLE).fingerprint
    assert load_text_files(text_files_config(tmp_path / "b" / "deeper"), PERMILLE).fingerprint == first


def test_glob_root_stops_at_the_first_wildcard():
    assert glob_root("/data/corpus/**/*.txt") == Path("/data/corpus")
    assert glob_root("*.txt") == Path(".")


def test_non_utf8_plain_file_is_skipped_and_counted(tmp_path):
    write_tree(tmp_path)
    (tmp_path / "notes" / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    assert load_text_files(text_files_config(tmp_path), PERMILLE).skipped_files == 1


def test_prepare_data_tokenizes_text_files(tmp_path):
    write_tree(tmp_path)
    cfg = DataConfig(corpus="text_files", vocab_size=270, test_permille=PERMILLE,
                     cache_dir=str(tmp_path / "cache"), text_files=text_files_config(tmp_path))
    prepared = prepare_data(cfg)
    assert (prepared.corpus, prepared.vocab_size) == ("text_files", 270)
    assert len(prepared.train_tokens) > 0 and len(prepared.test_tokens) > 0
