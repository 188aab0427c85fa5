"""The stdlib corpus end to end on its first 40 files: split, fingerprint, BPE, cache."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import harness.data.prepare as prepare_module
from configs.data import DataConfig
from configs.errors import ConfigError
from harness.data import prepare_data
from harness.data.bpe import EOD_TOKEN
from harness.data.documents import is_test_key
from harness.data.stdlib_corpus import load_stdlib, read_utf8_documents, stdlib_paths, stdlib_root

MAX_FILES = 40
VOCAB = 300
PERMILLE = 200  # 20% held out, so 40 files leave several test files


def small_config(cache_dir: Path, **overrides) -> DataConfig:
    fields = dict(stdlib_max_files=MAX_FILES, vocab_size=VOCAB, test_permille=PERMILLE,
                  cache_dir=str(cache_dir))
    return DataConfig(**{**fields, **overrides})


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def prepared(cache_dir):
    return prepare_data(small_config(cache_dir))


def test_paths_are_sorted_stdlib_sources_without_site_packages():
    paths = stdlib_paths(stdlib_root())
    assert paths == sorted(paths) and len(paths) > 500
    assert all(p.endswith(".py") for p in paths)
    assert not any(part in ("site-packages", "dist-packages") for p in paths for part in p.split("/"))
    assert "os.py" in paths


def test_train_and_test_share_no_file():
    corpus = load_stdlib(PERMILLE, MAX_FILES)
    train, test = {d.key for d in corpus.train}, {d.key for d in corpus.test}
    assert train and test and not train & test
    assert all(is_test_key(key, PERMILLE) for key in test)
    assert not any(is_test_key(key, PERMILLE) for key in train)


@pytest.mark.parametrize("key, bucket", [("os.py", 892), ("asyncio/base_events.py", 468)])
def test_split_bucket_is_sha256_of_the_key_mod_1000(key, bucket):
    # Fixed numbers, not Python's salted hash(): every process and machine splits alike.
    assert not is_test_key(key, bucket)
    assert is_test_key(key, bucket + 1)


def test_non_utf8_files_are_skipped_and_counted(tmp_path):
    (tmp_path / "good.py").write_text("x = 'é'\n", encoding="utf-8")
    (tmp_path / "latin1.py").write_bytes("# -*- coding: latin-1 -*-\nx = 'é'\n".encode("latin-1"))
    documents, skipped = read_utf8_documents(tmp_path, ["good.py", "latin1.py"])
    assert [d.key for d in documents] == ["good.py"] and skipped == 1


def test_prepared_data_has_the_requested_vocab_and_uint16_memmaps(prepared):
    assert (prepared.corpus, prepared.vocab_size) == ("stdlib", VOCAB)
    for tokens in (prepared.train_tokens, prepared.test_tokens):
        assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16
        assert len(tokens) > 10_000 and int(tokens.max()) < VOCAB
    assert np.isnan(prepared.entropy_rate_nats)


def test_every_document_ends_with_the_end_of_document_token(prepared):
    corpus = load_stdlib(PERMILLE, MAX_FILES)
    tokenizer = Tokenizer.from_file(prepared.tokenizer_path)
    eod = tokenizer.token_to_id(EOD_TOKEN)
    assert int((prepared.train_tokens == eod).sum()) == len(corpus.train)
    assert int((prepared.test_tokens == eod).sum()) == len(corpus.test)
    assert prepared.test_tokens[-1] == eod


def test_tokens_decode_back_to_the_source_text(prepared):
    first_test_file = load_stdlib(PERMILLE, MAX_FILES).test[0].text
    tokenizer = Tokenizer.from_file(prepared.tokenizer_path)
    eod = tokenizer.token_to_id(EOD_TOKEN)
    end = int(np.argmax(prepared.test_tokens == eod))
    assert tokenizer.decode(prepared.test_tokens[:end].tolist()) == first_test_file


def test_fingerprint_is_stable_across_calls(prepared, cache_dir):
    assert prepare_data(small_config(cache_dir)).fingerprint == prepared.fingerprint
    assert len(prepared.fingerprint) == 64


def test_fingerprint_depends_on_the_files_and_the_split():
    base = load_stdlib(PERMILLE, MAX_FILES).fingerprint
    assert load_stdlib(PERMILLE, MAX_FILES - 1).fingerprint != base
    assert load_stdlib(PERMILLE + 1, MAX_FILES).fingerprint != base


def test_cached_tokenizer_and_tokens_are_reused(prepared, cache_dir, monkeypatch):
    tokenizer_mtime = Path(prepared.tokenizer_path).stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("tokenizer retrained although it is cached")

    monkeypatch.setattr(prepare_module, "train_bpe", no_training)
    monkeypatch.setattr(prepare_module, "encode_documents", no_training)
    again = prepare_data(small_config(cache_dir))
    assert Path(again.tokenizer_path).stat().st_mtime_ns == tokenizer_mtime
    assert np.array_equal(again.train_tokens, prepared.train_tokens)


def test_cache_holds_only_finished_files(prepared, cache_dir):
    names = sorted(p.name for p in Path(prepared.tokenizer_path).parent.iterdir())
    assert names == [f"bpe-{VOCAB}.json", f"bpe-{VOCAB}.lock",
                     f"test-bpe-{VOCAB}.npy", f"train-bpe-{VOCAB}.npy"]


def test_vocab_beyond_what_the_corpus_supports_is_rejected_and_not_cached(tmp_path):
    with pytest.raises(ConfigError, match="supports only") as error:
        prepare_data(small_config(tmp_path, stdlib_max_files=4, vocab_size=20_000))
    assert error.value.field == "data.vocab_size"
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.npy"))


def test_concurrent_workers_train_once_and_agree(tmp_path, monkeypatch):
    calls = []
    real_train_bpe = prepare_module.train_bpe

    def counting_train_bpe(*args):
        calls.append(1)
        return real_train_bpe(*args)

    monkeypatch.setattr(prepare_module, "train_bpe", counting_train_bpe)
    cfg = small_config(tmp_path, stdlib_max_files=20)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: prepare_data(cfg), range(2))
    assert len(calls) == 1
    assert np.array_equal(first.train_tokens, second.train_tokens)
