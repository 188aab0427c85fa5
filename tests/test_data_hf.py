"""The hf corpus through datasets.load_dataset, on local .jsonl files, offline."""

import json
from pathlib import Path

import pytest

from configs.data import DataConfig, HFDataConfig
from configs.errors import ConfigError
from harness.data import prepare_data
from harness.data.hf_corpus import load_hf

PERMILLE = 300
N_DOCUMENTS = 40


@pytest.fixture(autouse=True)
def offline_datasets(tmp_path, monkeypatch):
    """No network, and the datasets cache inside tmp_path (datasets reads both at import)."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def write_jsonl(directory: Path) -> list[str]:
    """Two .jsonl shards of N_DOCUMENTS records in all; one text appears twice."""
    texts = [f"document {i}: " + "scaling laws for neural language models. " * (1 + i % 5)
             for i in range(N_DOCUMENTS)]
    texts[-1] = texts[0]
    paths = []
    for shard in range(2):
        path = directory / f"shard{shard}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for text in texts[shard::2]:
                out.write(json.dumps({"text": text}) + "\n")
        paths.append(str(path))
    return paths


def hf_config(tmp_path: Path, **overrides) -> HFDataConfig:
    return HFDataConfig(**{"name": "json", "data_files": write_jsonl(tmp_path), **overrides})


def test_local_jsonl_is_read_and_split_by_content(tmp_path):
    corpus = load_hf(hf_config(tmp_path), PERMILLE)
    assert len(corpus.train) + len(corpus.test) == N_DOCUMENTS
    assert corpus.train and corpus.test
    # Both copies of the duplicated text sit on one side (the split hashes the content).
    copies = [sum(d.text.startswith("document 0:") for d in side) for side in (corpus.train, corpus.test)]
    assert sorted(copies) == [0, 2]


def test_prepare_data_on_local_jsonl(tmp_path):
    cfg = DataConfig(corpus="hf", vocab_size=280, test_permille=PERMILLE,
                     cache_dir=str(tmp_path / "cache"), hf=hf_config(tmp_path))
    prepared = prepare_data(cfg)
    assert (prepared.corpus, prepared.vocab_size) == ("hf", 280)
    assert len(prepared.train_tokens) > len(prepared.test_tokens) > 0
    assert prepare_data(cfg).fingerprint == prepared.fingerprint


def test_missing_text_column_lists_the_columns(tmp_path):
    with pytest.raises(ConfigError, match=r"\['text'\]") as error:
        load_hf(hf_config(tmp_path, text_column="body"), PERMILLE)
    assert error.value.field == "data.hf.text_column"
