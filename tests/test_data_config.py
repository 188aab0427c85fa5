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


def test_vocab_too_large_for_uint16_ids():
    with pytest.raises(ConfigError, match="uint16") as error:
        DataConfig(vocab_size=2**16 + 1)
    assert error.value.field == "data.vocab_size"


def test_vocab_smaller_than_the_byte_alphabet():
    with pytest.raises(ConfigError, match="257") as error:
        DataConfig(vocab_size=256)
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


def test_hf_corpus_needs_a_dataset_name():
    with pytest.raises(ConfigError) as error:
        DataConfig(corpus="hf")
    assert error.value.field == "data.hf.name"


def test_text_files_corpus_needs_a_glob():
    with pytest.raises(ConfigError) as error:
        DataConfig(corpus="text_files")
    assert error.value.field == "data.text_files.globs"


def test_markov_support_cannot_exceed_the_symbols():
    with pytest.raises(ConfigError, match="n_symbols=8") as error:
        MarkovConfig(n_symbols=8, support=9)
    assert error.value.field == "data.markov.support"


def test_markov_table_size_is_bounded():
    with pytest.raises(ConfigError) as error:
        MarkovConfig(n_symbols=1024, order=3)
    assert error.value.field == "data.markov.order"
