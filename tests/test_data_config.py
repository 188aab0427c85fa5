"""DataConfig: defaults, Hydra/OmegaConf compatibility and validation of every field."""

import pytest
from omegaconf import OmegaConf

from configs.data import DataConfig, MarkovConfig
from configs.errors import ConfigError


def test_defaults_are_the_stdlib_corpus_at_vocab_1024():
    cfg = DataConfig()
    assert (cfg.corpus, cfg.vocab_size, cfg.allow_repeat) == ("stdlib", 1024, False)
    assert (cfg.markov.n_symbols, cfg.markov.order) == (64, 2)


def test_structured_config_round_trips_through_omegaconf():
    merged = OmegaConf.merge(OmegaConf.structured(DataConfig),
                             OmegaConf.from_dotlist(["corpus=text_files", "text_files.globs=[a/*.txt]"]))
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, DataConfig)
    assert cfg.text_files.globs == ["a/*.txt"]


def test_omegaconf_runs_validation_when_building_the_object():
    merged = OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.from_dotlist(["corpus=wiki"]))
    with pytest.raises(ConfigError, match="data.corpus"):
        OmegaConf.to_object(merged)


def test_unknown_corpus_lists_the_valid_names():
    with pytest.raises(ConfigError) as error:
        DataConfig(corpus="wikipedia")
    assert error.value.field == "data.corpus"
    for name in ("stdlib", "hf", "text_files", "markov"):
        assert name in error.value.allowed


@pytest.mark.parametrize("vocab_size, reason", [
    (2**16 + 1, "uint16"),  # too large for uint16 token ids
    (256, "257"),  # smaller than the byte alphabet plus the end-of-document token
])
def test_vocab_size_outside_what_the_tokenizer_can_hold(vocab_size, reason):
    with pytest.raises(ConfigError, match=reason) as error:
        DataConfig(vocab_size=vocab_size)
    assert error.value.field == "data.vocab_size"


@pytest.mark.parametrize("field", ["vocab_size", "test_windows", "stdlib_max_files"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_sizes_are_rejected(field, value):
    with pytest.raises(ConfigError, match="positive") as error:
        DataConfig(**{field: value})
    assert error.value.field == f"data.{field}"


@pytest.mark.parametrize("field", ["n_symbols", "order", "support", "train_tokens", "test_tokens"])
def test_non_positive_markov_sizes_are_rejected(field):
    with pytest.raises(ConfigError, match="positive") as error:
        MarkovConfig(**{field: 0})
    assert error.value.field == f"data.markov.{field}"


@pytest.mark.parametrize("permille", [0, 1000])
def test_test_permille_must_leave_both_splits_possible(permille):
    with pytest.raises(ConfigError, match=r"\[1, 999\]"):
        DataConfig(test_permille=permille)


@pytest.mark.parametrize("corpus, field", [("hf", "data.hf.name"), ("text_files", "data.text_files.globs")])
def test_external_corpus_needs_its_source(corpus, field):
    with pytest.raises(ConfigError) as error:
        DataConfig(corpus=corpus)
    assert error.value.field == field


def test_markov_support_cannot_exceed_the_symbols():
    with pytest.raises(ConfigError, match="n_symbols=8") as error:
        MarkovConfig(n_symbols=8, support=9)
    assert error.value.field == "data.markov.support"


def test_markov_table_size_is_bounded():
    with pytest.raises(ConfigError) as error:
        MarkovConfig(n_symbols=1024, order=3)
    assert error.value.field == "data.markov.order"
