"""Synthetic results with known scaling laws, for tests and for trying the analysis without training.

Losses follow L = E + A/N^α + B/D^β (Hoffmann 2022 eq. 2) times log-normal noise; a learning curve
of a run is the same law evaluated at the tokens seen so far.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import published as pub
from analysis.data import COMPUTE_CONVENTIONS, architecture_label
from analysis.result import FitResult

N_CTX, VOCAB = 128, 512  # toy context length and vocabulary for the derived FLOP columns
CURVE_POINTS = 24  # logged evaluations per synthetic learning curve


@dataclass
class Law:
    """L = E + A/N^α + B/D^β; defaults are Hoffmann 2022 eq. 10."""

    E: float = pub.CHINCHILLA_E
    A: float = pub.CHINCHILLA_A
    B: float = pub.CHINCHILLA_B
    alpha: float = pub.CHINCHILLA_ALPHA
    beta: float = pub.CHINCHILLA_BETA

    def __call__(self, n, d):
        return self.E + self.A / np.asarray(n, float) ** self.alpha + self.B / np.asarray(d, float) ** self.beta

    def n_opt(self, compute):
        """Exact compute-optimal N for C = 6ND (Hoffmann 2022 eq. 4)."""
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return g * (np.asarray(compute, float) / pub.FLOPS_PER_PARAM_TOKEN) ** (self.beta / (self.alpha + self.beta))


def run_metadata(run_id: str, n_layer: int, d_model: int, tokens: float, grid: str, seed: int = 0,
                 n_head: int = 4, ff_ratio: int = 4, compute_budget: float = float("nan")) -> dict:
    """Metadata of one run in the columns of docs/architecture.md (counts from Kaplan 2020 Table 1)."""
    n = 2 * n_layer * d_model * (2 * d_model + d_model * ff_ratio)  # attention 4d² + MLP 2·d·d_ff per layer
    embed = d_model * (VOCAB + N_CTX)
    return {"run_id": run_id, "status": "completed", "diverged_step": -1, "n_layer": n_layer, "d_model": d_model,
            "n_head": n_head, "d_ff": ff_ratio * d_model, "n_ctx": N_CTX, "vocab_size": VOCAB,
            "params_non_embedding": n, "params_total": n + embed, "params_embedding": embed,
            "params_token_embedding": d_model * VOCAB, "params_position_embedding": d_model * N_CTX,
            "params_output_head": 0, "tie_embeddings": True,
            "flops_per_token_6n": 6.0 * n, "flops_per_token_6n_logits": 6.0 * (n + d_model * VOCAB),
            "flops_per_token_palm": 6.0 * n + 12.0 * n_layer * N_CTX * d_model,
            "flops_per_token_exact": 6.0 * (n + d_model * VOCAB) + 6.0 * n_layer * N_CTX * d_model,
            "tokens": float(tokens), "batch_size": 8, "seed": seed, "grid": grid, "compute_budget": compute_budget,
            "corpus": "synthetic", "corpus_entropy_rate_nats": float("nan"), "preset": "synthetic"}


def learning_curve(meta: dict, law: Law, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    """Curve rows of one run: the law at the tokens seen so far, with multiplicative noise."""
    tokens = np.unique(np.geomspace(meta["tokens"] / 100, meta["tokens"], CURVE_POINTS).astype(np.int64))
    loss = law(meta["params_non_embedding"], tokens) * np.exp(rng.normal(0, noise, len(tokens)))
    curve = pd.DataFrame({"run_id": meta["run_id"], "step": tokens // (8 * N_CTX), "tokens": tokens,
                          "train_loss": loss * 1.01, "test_loss": loss, "lr": 1e-3,
                          "elapsed_s": tokens / 1e5})
    for key in COMPUTE_CONVENTIONS:
        curve[f"compute_{key}"] = meta[f"flops_per_token_{key}"] * tokens.astype(float)
    return curve


def finish(meta: dict, curve: pd.DataFrame) -> dict:
    """Fill the loss summary columns of a run's metadata from its curve."""
    return {**meta, "final_test_loss": float(curve["test_loss"].iloc[-1]),
            "best_test_loss": float(curve["test_loss"].min())}


def _grid_points(law: Law) -> list[tuple[str, int, int, float, float]]:
    """(grid, n_layer, d_model, tokens, compute_budget) of a small Kaplan/Chinchilla-style preset."""
    points = [("n_grid", 4, d, 2e8, np.nan) for d in (32, 48, 64, 96, 128, 192, 256)]
    points += [("d_grid", 4, 256, float(t), np.nan) for t in np.geomspace(2e6, 2e8, 6)]
    for budget in (1e14, 1e15, 1e16, 1e17):
        for factor in np.geomspace(1 / 8, 8, 7):
            d_model = int(round(np.sqrt(law.n_opt(budget) * factor / 48)))
            points.append(("isoflop", 4, d_model, budget / (pub.FLOPS_PER_PARAM_TOKEN * 48 * d_model**2), budget))
    points += [("arch_shape", n_layer, d, 1e8, np.nan) for n_layer, d in ((2, 204), (4, 144), (8, 102), (16, 72))]
    return points


# The grid of the kaplan_fig1 preset (configs/sweep/kaplan_fig1.yaml): 13 shapes at D = 10⁶ tokens and one
# 4 x 96 model at 6 token counts; for timing the analysis on a folder of the default sweep's size (docs/speed.md).
KAPLAN_FIG1_POINTS = ([("n_grid", n_layer, d_model, 1e6, np.nan) for d_model in (16, 32, 64, 128)
                       for n_layer in (1, 2, 4)] + [("n_grid", 6, 128, 1e6, np.nan)]
                      + [("d_grid", 4, 96, tokens, np.nan) for tokens in (62500, 125000, 250000, 500000, 1e6, 2e6)])


def synthetic_results(law: Law | None = None, noise: float = 0.003, seed: int = 0, n_seeds: int = 2,
                      points: list | None = None, diverged: bool = True) -> list[tuple[dict, pd.DataFrame]]:
    """(metadata, curve) for every run of a small preset (or of `points`: (grid, n_layer, d_model, tokens,
    compute_budget) each), seeds replicated on the n_grid, plus one diverged run unless `diverged` is False."""
    law, rng, results = law or Law(), np.random.default_rng(seed), []
    for i, (grid, n_layer, d_model, tokens, budget) in enumerate(_grid_points(law) if points is None else points):
        for replica in range(n_seeds if grid == "n_grid" else 1):
            meta = run_metadata(f"{grid}-{i:03d}-s{replica}", n_layer, d_model, tokens, grid, replica,
                                compute_budget=budget)
            meta["corpus_entropy_rate_nats"] = law.E
            curve = learning_curve(meta, law, noise, rng)
            results.append((finish(meta, curve), curve))
    if not diverged:
        return results
    meta = run_metadata("n_grid-diverged", 4, 384, 2e8, "n_grid")
    curve = learning_curve(meta, law, noise, rng).iloc[:5].assign(test_loss=np.nan)
    results.append(({**meta, "status": "diverged", "diverged_step": int(curve["step"].iloc[-1]),
                     "final_test_loss": np.nan, "best_test_loss": np.nan}, curve))
    return results


def write_synthetic_folder(results_dir, **kwargs) -> int:
    """Write `synthetic_results(**kwargs)` as a results folder through harness.store; return the run count."""
    from harness.store import write_run  # torch-free (docs/architecture.md)

    results = synthetic_results(**kwargs)
    for meta, curve in results:
        write_run(results_dir, curve, meta)
    return len(results)


def as_frames(results: list[tuple[dict, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) DataFrames as harness.store.load_runs / load_curves would return them."""
    runs = pd.DataFrame([meta for meta, _ in results])
    curves = pd.concat([curve.assign(**{k: v for k, v in meta.items() if k not in curve}) for meta, curve in results],
                       ignore_index=True)
    return runs, curves


OPTIMUM_DECADES = 3.0  # sizes per budget span three decades of N around the optimum (tests/test_analysis_optimum.py)


def law_with_a(a: float, alpha_plus_beta: float = pub.CHINCHILLA_ALPHA + pub.CHINCHILLA_BETA) -> Law:
    """Hoffmann 2022 eq. 10 with α and β re-split so that a = β/(α+β) (eq. 4) takes the given value."""
    return Law(alpha=(1 - a) * alpha_plus_beta, beta=a * alpha_plus_beta)


def final_points(law: Law, budgets, sizes_per_budget: int = 13, noise: float = 0.005, seed: int = 0,
                 shared_sizes: bool = False, offsets_decades=(0.0,)) -> pd.DataFrame:
    """One final point per (budget, size), D = C/(6N), sizes spanning OPTIMUM_DECADES around each budget's
    exact N_opt shifted by offsets_decades (cycled over the budgets: the optimum off the middle of the sizes,
    where a profile's asymmetry biases a parabola through all of them), loss times log-normal noise. With
    shared_sizes, every budget takes its sizes from one log-spaced grid (so a size has final points at
    several budgets), else each budget has its own."""
    rng, half = np.random.default_rng(seed), OPTIMUM_DECADES / 2
    step = OPTIMUM_DECADES / (sizes_per_budget - 1)
    rows = []
    for c, offset in zip(budgets, itertools.cycle(offsets_decades)):
        centre = np.log10(law.n_opt(c)) + offset
        if shared_sizes:
            centre = np.round(centre / step) * step
        for log_n in centre + np.linspace(-half, half, sizes_per_budget):
            n = 10.0**log_n
            d = c / (pub.FLOPS_PER_PARAM_TOKEN * n)
            loss = float(law(n, d)) * math.exp(rng.normal(0, noise))
            rows.append({"run_id": f"c{c:.3g}-n{n:.4g}", "status": "completed", "grid": "isoflop",
                         "compute_budget": float(c), "params_non_embedding": n, "tokens": d,
                         "flops_per_token_6n": pub.FLOPS_PER_PARAM_TOKEN * n, "final_test_loss": loss,
                         "best_test_loss": loss})
    return pd.DataFrame(rows)


def law_curves(law: Law, sizes, compute_range: tuple[float, float], noise: float = 0.005, seed: int = 0,
               points: int = CURVE_POINTS) -> pd.DataFrame:
    """Learning curves of models of the given sizes, each from compute_range[0] to compute_range[1] (6ND),
    the law at the tokens seen so far times independent log-normal noise per point."""
    rng, frames = np.random.default_rng(seed), []
    for i, n in enumerate(np.asarray(sizes, float)):
        tokens = np.geomspace(*compute_range, points) / (pub.FLOPS_PER_PARAM_TOKEN * n)
        loss = law(n, tokens) * np.exp(rng.normal(0, noise, points))
        frames.append(pd.DataFrame({"run_id": f"n{i:02d}", "status": "completed", "params_non_embedding": n,
                                    "tokens": tokens, "compute_6n": pub.FLOPS_PER_PARAM_TOKEN * n * tokens,
                                    "test_loss": loss}))
    return pd.concat(frames, ignore_index=True)


TRUNK_EXCESS = 0.05  # a trunk at constant learning rate sits 5% above the law; its cooldown branches reach it


def branched_runs(law: Law, sizes, budgets, points_per_branch: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) of one `wsd` trunk per size with a cooldown branch per budget, D = C/(6N): each branch's
    curve repeats its trunk's rows (the law times 1 + TRUNK_EXCESS) up to the fork at 80% of its D, then
    cools down to the law at D, its final loss. Columns as load_runs / load_curves give them."""
    runs, curves = [], []
    for i, n in enumerate(np.asarray(sizes, float)):
        d_all = np.asarray(budgets, float) / (pub.FLOPS_PER_PARAM_TOKEN * n)
        trunk_tokens = np.round(np.geomspace(d_all.min() / 10, 0.8 * d_all.max(), 16))
        for j, d in enumerate(np.round(d_all)):
            fork = float(np.round(0.8 * d))
            before = trunk_tokens[trunk_tokens < fork]
            cooldown = np.round(np.linspace(fork, d, points_per_branch))
            excess = np.r_[np.full(len(before), TRUNK_EXCESS), TRUNK_EXCESS * (1 - (cooldown - fork) / (d - fork))]
            tokens = np.r_[before, cooldown]
            run_id = f"n{i}-b{j}"
            curve = pd.DataFrame({"run_id": run_id, "tokens": tokens, "test_loss": law(n, tokens) * (1 + excess),
                                  "compute_6n": pub.FLOPS_PER_PARAM_TOKEN * n * tokens})
            runs.append({"run_id": run_id, "status": "completed", "params_non_embedding": n, "tokens": d,
                         "flops_per_token_6n": pub.FLOPS_PER_PARAM_TOKEN * n, "schedule": "wsd",
                         "trunk_id": f"n{i}", "fork_step": int(fork // 1024), "fork_tokens": int(fork),
                         "final_test_loss": float(law(n, d)), "best_test_loss": float(law(n, d)),
                         "grid": "n_grid", "compute_budget": np.nan})
            curves.append(curve)
    runs = pd.DataFrame(runs)
    curves = pd.concat(curves, ignore_index=True).merge(runs.drop(columns=["tokens"]), on="run_id")
    return runs, curves


ARCH_SHAPE_D_HEAD = 16  # configs/sweep/arch_shape.yaml: model.d_head
# (n_layer, d_model, n_head, d_ff / d_model) of configs/sweep/arch_shape.yaml; n_head None: d_model / d_head
ARCH_SHAPE_POINTS = (
    *[(n_layer, d, None, 4) for n_layer, d in ((1, 64), (2, 48), (4, 32), (16, 16))],
    *[(n_layer, d, None, 4) for n_layer, d in ((1, 128), (2, 96), (4, 64), (8, 48))],
    *[(n_layer, d, None, 4) for n_layer, d in ((1, 256), (2, 176), (4, 128), (8, 96), (16, 64))],
    *[(4, 128, n_head, 4) for n_head in (1, 2, 4, 16)],
    *[(4, d, None, ff) for d, ff in ((176, 1), (160, 2), (96, 8))],
)


def kaplan_l_of_n() -> FitResult:
    """Kaplan 2020 eq. 1.1, L(N) = (N_c/N)^α_N, as a converged fit: the baseline arch_shape_runs are built on."""
    return FitResult("L(N)", {"N_c": pub.KAPLAN_N_C, "alpha_N": pub.KAPLAN_ALPHA_N}, True, "Kaplan 2020 eq. 1.1",
                     predict=lambda n: (pub.KAPLAN_N_C / np.asarray(n, float)) ** pub.KAPLAN_ALPHA_N)


def arch_shape_runs(penalty: dict[str, float] | None = None, n_seeds: int = 2, noise: float = 0.0,
                    sem: float = 0.0, seed: int = 0, points=ARCH_SHAPE_POINTS) -> pd.DataFrame:
    """Completed arch_shape runs, `n_seeds` per shape: final loss = kaplan_l_of_n() at the shape's N times
    (1 + penalty[shape]) times log-normal seed noise of sd `noise`; final_test_loss_sem = `sem` × loss. Shapes are
    labelled as analysis.data.architecture_label ('4x128 h8 ff4'); one not in `penalty` has none."""
    rows = [run_metadata(f"arch-{i:02d}-s{s}", n_layer, d, 5e5, "arch_shape", s,
                         n_head or d // ARCH_SHAPE_D_HEAD, ff)
            for i, (n_layer, d, n_head, ff) in enumerate(points) for s in range(n_seeds)]
    runs = pd.DataFrame(rows)
    labels = architecture_label(runs)
    unknown = set(penalty or {}) - set(labels)
    if unknown:
        raise ValueError(f"penalty names shapes {sorted(unknown)} not in the points; they are {sorted(set(labels))}")
    excess = labels.map(penalty or {}).fillna(0.0).to_numpy(float)
    loss = kaplan_l_of_n().predict(runs["params_non_embedding"]) * (1 + excess)
    loss = loss * np.exp(np.random.default_rng(seed).normal(0.0, noise, len(runs)))
    return runs.assign(final_test_loss=loss, best_test_loss=loss, final_test_loss_sem=sem * loss)
