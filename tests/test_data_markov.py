"""The synthetic Markov corpus: exact entropy rate, seeded streams, prepare_data."""

import numpy as np
import pytest

import harness.data.prepare as prepare_module
from configs.data import DataConfig, MarkovConfig
from harness.data import prepare_data
from harness.data.markov import (build_chain, entropy_rate_nats, sample_streams, sample_tokens,
                                 stationary_distribution, zipf_rank_probs)

SAMPLE_TOKENS = 300_000


def empirical_nats_per_token(config: MarkovConfig, tokens: np.ndarray) -> float:
    """Mean -log P(x_t | previous k symbols) under the true chain, over positions t >= k."""
    chain = build_chain(config)
    context = np.zeros(len(tokens) - config.order, dtype=np.int64)
    for lag in range(config.order):
        context = context * config.n_symbols + tokens[lag:len(tokens) - config.order + lag]
    probs = chain.transition_probs()[context, tokens[config.order:]]
    return float(-np.log(probs).mean())


@pytest.mark.parametrize("config", [
    MarkovConfig(train_tokens=SAMPLE_TOKENS),
    MarkovConfig(n_symbols=16, order=3, zipf_exponent=1.5, support=6, seed=5, train_tokens=SAMPLE_TOKENS),
])
def test_sampled_stream_matches_the_exact_entropy_rate(config):
    train, _ = sample_streams(config)
    exact = entropy_rate_nats(build_chain(config))
    assert empirical_nats_per_token(config, train) == pytest.approx(exact, rel=0.01)


def test_entropy_rate_is_the_zipf_entropy_shared_by_every_context():
    config = MarkovConfig()
    probs = zipf_rank_probs(64, 1.0, 64)
    assert entropy_rate_nats(build_chain(config)) == pytest.approx(-(probs * np.log(probs)).sum())
    assert entropy_rate_nats(build_chain(config)) == pytest.approx(3.37135, abs=1e-5)


def test_flat_law_over_m_symbols_has_entropy_log_m():
    config = MarkovConfig(n_symbols=8, order=2, zipf_exponent=0.0, support=5)
    assert entropy_rate_nats(build_chain(config)) == pytest.approx(np.log(5))


def test_stationary_distribution_is_a_fixed_point():
    chain = build_chain(MarkovConfig(n_symbols=8, order=2))
    pi = stationary_distribution(chain)
    stepped = np.bincount(chain.next_context().ravel(),
                          weights=(pi[:, None] * chain.rank_probs).ravel(), minlength=chain.n_contexts)
    assert pi.sum() == pytest.approx(1.0)
    assert np.abs(stepped - pi).sum() < 1e-10


def test_same_seed_gives_the_same_tokens():
    config = MarkovConfig(train_tokens=5000, test_tokens=1000)
    first, second = sample_streams(config), sample_streams(config)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_different_seed_gives_different_tokens():
    train_0, _ = sample_streams(MarkovConfig(seed=0, train_tokens=5000, test_tokens=1000))
    train_1, _ = sample_streams(MarkovConfig(seed=1, train_tokens=5000, test_tokens=1000))
    assert not np.array_equal(train_0, train_1)


def test_train_and_test_streams_are_independent_runs():
    train, test = sample_streams(MarkovConfig(train_tokens=5000, test_tokens=5000))
    assert len(test) == 5000 and not np.array_equal(train, test)


def test_sample_spans_all_symbols_with_uint16_ids():
    chain = build_chain(MarkovConfig())
    tokens = sample_tokens(chain, 20_000, np.random.default_rng(0))
    assert tokens.dtype == np.uint16 and set(np.unique(tokens)) == set(range(64))


def test_prepare_data_caches_the_streams_and_reports_the_truth(tmp_path, monkeypatch):
    cfg = DataConfig(corpus="markov", cache_dir=str(tmp_path),
                     markov=MarkovConfig(train_tokens=20_000, test_tokens=4_000))
    prepared = prepare_data(cfg)
    assert (prepared.corpus, prepared.vocab_size, prepared.tokenizer_path) == ("markov", 64, None)
    assert (len(prepared.train_tokens), len(prepared.test_tokens)) == (20_000, 4_000)
    assert prepared.entropy_rate_nats == pytest.approx(3.37135, abs=1e-5)

    def no_sampling(*args):
        raise AssertionError("streams resampled although they are cached")

    monkeypatch.setattr(prepare_module, "sample_streams", no_sampling)
    again = prepare_data(cfg)
    assert again.fingerprint == prepared.fingerprint
    assert np.array_equal(again.train_tokens, prepared.train_tokens)
