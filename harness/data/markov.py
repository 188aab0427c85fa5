"""The "markov" corpus: a seeded order-k Markov chain with an exactly known entropy rate.

Every context c (the last k symbols) draws its next symbol from Zipf(s) over the ranks 1..m,
mapped to symbols by a seeded random permutation of its own. The chain emits token ids directly
(vocabulary = V), so a model's loss can be compared with its exactly known entropy
rate h = sum_c pi(c) H(P(.|c)) in nats/token, pi the stationary distribution of contexts (the
reachable floor for order 1; slightly below it for order >= 2, docs/deviations.md).
"""

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from configs.data import MarkovConfig

# Bumped whenever the sampler changes, so cached streams of an older sampler are not reused.
SAMPLER_VERSION = 1
# Spawn keys that give the tables and the two streams independent random streams of one seed.
TABLES_STREAM, TRAIN_STREAM, TEST_STREAM = 0, 1, 2
# Power iteration stops when successive stationary distributions differ by less than this (L1).
STATIONARY_TOLERANCE = 1e-13
STATIONARY_MAX_ITERATIONS = 100_000
# Tokens sampled per Python-loop chunk; bounds the memory of the intermediate int lists.
SAMPLE_CHUNK_TOKENS = 1_000_000


@dataclass(frozen=True)
class MarkovChain:
    """The chain's tables: rank probabilities and, per context, the next context of each rank."""

    n_symbols: int
    order: int
    rank_probs: np.ndarray  # (V,) Zipf probabilities of ranks 1..V, zero beyond the support
    symbol_of_rank: np.ndarray  # (V**k, V) each context's permutation: rank -> symbol

    @property
    def n_contexts(self) -> int:
        """V**k, the number of distinct contexts."""
        return self.n_symbols ** self.order

    def next_context(self) -> np.ndarray:
        """(V**k, V): the context after context c emits its rank-r symbol (newest symbol last)."""
        contexts = np.arange(self.n_contexts, dtype=np.int64)[:, None]
        return (contexts * self.n_symbols + self.symbol_of_rank) % self.n_contexts

    def transition_probs(self) -> np.ndarray:
        """(V**k, V): P(symbol | context)."""
        probs = np.zeros(self.symbol_of_rank.shape)
        ranks = np.broadcast_to(self.rank_probs, probs.shape)
        np.put_along_axis(probs, self.symbol_of_rank, ranks, axis=1)
        return probs


def zipf_rank_probs(n_symbols: int, exponent: float, support: int) -> np.ndarray:
    """P(rank r) proportional to r**-exponent for r = 1..support, zero for the other ranks."""
    weights = np.zeros(n_symbols)
    weights[:support] = np.arange(1, support + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def build_chain(config: MarkovConfig) -> MarkovChain:
    """The chain's tables, a pure function of the config (seeded)."""
    rng = np.random.default_rng([config.seed, TABLES_STREAM])
    n_contexts = config.n_symbols ** config.order
    identity = np.tile(np.arange(config.n_symbols, dtype=np.int32), (n_contexts, 1))
    symbol_of_rank = rng.permuted(identity, axis=1)
    support = config.support if config.support is not None else config.n_symbols
    rank_probs = zipf_rank_probs(config.n_symbols, config.zipf_exponent, support)
    return MarkovChain(config.n_symbols, config.order, rank_probs, symbol_of_rank)


def stationary_distribution(chain: MarkovChain) -> np.ndarray:
    """pi over contexts by lazy power iteration, pi <- (pi + pi P) / 2, from the uniform start.

    The lazy step has the same fixed point and converges for periodic chains too.
    """
    next_context = chain.next_context().ravel()
    pi = np.full(chain.n_contexts, 1.0 / chain.n_contexts)
    for _ in range(STATIONARY_MAX_ITERATIONS):
        flow = (pi[:, None] * chain.rank_probs[None, :]).ravel()
        stepped = 0.5 * (pi + np.bincount(next_context, weights=flow, minlength=chain.n_contexts))
        if np.abs(stepped - pi).sum() < STATIONARY_TOLERANCE:
            return stepped / stepped.sum()
        pi = stepped
    raise RuntimeError(f"stationary distribution did not converge to L1 change "
                       f"{STATIONARY_TOLERANCE} within {STATIONARY_MAX_ITERATIONS} iterations")


def entropy_rate_nats(chain: MarkovChain) -> float:
    """h = sum_c pi(c) H(P(.|c)) in nats/token (Cover & Thomas, Theorem 4.2.4)."""
    probs = chain.transition_probs()
    logs = np.log(probs, out=np.zeros_like(probs), where=probs > 0)
    conditional_entropy = -(probs * logs).sum(axis=1)
    return float(stationary_distribution(chain) @ conditional_entropy)


def sample_tokens(chain: MarkovChain, n_tokens: int, rng: np.random.Generator) -> np.ndarray:
    """n_tokens uint16 symbols of one stationary run of the chain (first context drawn from pi).

    Every context shares the same Zipf law over ranks, so the ranks are i.i.d. and drawn at once;
    only the rank -> next-context lookup is sequential.
    """
    next_context = chain.next_context().tolist()
    context = int(rng.choice(chain.n_contexts, p=stationary_distribution(chain)))
    tokens = np.empty(n_tokens, dtype=np.uint16)
    for start in range(0, n_tokens, SAMPLE_CHUNK_TOKENS):
        ranks = rng.choice(chain.n_symbols, size=min(SAMPLE_CHUNK_TOKENS, n_tokens - start),
                           p=chain.rank_probs).tolist()
        contexts = []
        for rank in ranks:
            context = next_context[context][rank]
            contexts.append(context)
        # The newest symbol of a context is its last base-V digit.
        tokens[start:start + len(contexts)] = np.asarray(contexts) % chain.n_symbols
    return tokens


def sample_streams(config: MarkovConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) token streams, two independent runs of the chain from their own seeds."""
    chain = build_chain(config)
    train = sample_tokens(chain, config.train_tokens, np.random.default_rng([config.seed, TRAIN_STREAM]))
    test = sample_tokens(chain, config.test_tokens, np.random.default_rng([config.seed, TEST_STREAM]))
    return train, test


def markov_fingerprint(config: MarkovConfig) -> str:
    """sha256 of the sampler version and the config; the config determines every token."""
    payload = json.dumps({"sampler_version": SAMPLER_VERSION, **asdict(config)}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
