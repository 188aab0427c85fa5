"""Architecture independence (Kaplan 2020 sec. 3.1, Fig. 5): loss spread across shapes at fixed N, with intervals.

Each arch_shape run's loss is divided by the L(N) fit at its own N; a shape's loss is the mean over its seeds; the
spread of a fixed-N group is its worst shape's mean over its best, minus one, in percent. Intervals come from a
parametric bootstrap of the shape means (draw_means; the choice is argued in docs/analysis.md, "Architecture
independence"): with seed replicates, each mean is redrawn with the seed standard deviation pooled over the
group's shapes, its degrees of freedom carried; with one seed per shape, from the run's held-out standard error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.bootstrap import CONFIDENCE
from analysis.data import architecture_label, pooled_sd_log
from analysis.families import verdict
from analysis.result import FitResult

# Sizes within 20% of the next smaller size join its "fixed N" group, as long as the group spans at most
# 25% from its smallest member (a chain of sizes each 19% apart is not one "fixed N"). The arch_shape
# preset's groups lie about 4x apart, with up to 20.3% between a group's ends (744,000 to 894,912).
SIZE_TOLERANCE = 0.20
MAX_GROUP_SPAN = 0.25
GROUP_COLUMNS = ("arch_group", "size_group", "shape_group")  # an explicit grouping column wins if present
# Redraws of a group's shape means: a 2.5% quantile of 4000 draws moves by about 0.04 standard deviations
# between bootstrap seeds (sqrt(p(1-p)/n) over the normal density at the quantile).
SPREAD_DRAWS = 4000
SHAPE_ATTRIBUTES = ("n_layer", "d_model", "n_head", "d_head", "ff_ratio", "aspect_ratio", "params_non_embedding")
SEEDS_SOURCE = "seeds: sd pooled over the group's {} replicated shapes ({} dof)"
HELD_OUT_SOURCE = "held-out sample only (one seed per shape): seed-to-seed noise not seen"
NO_SOURCE = "no interval: one seed per shape and no held-out standard error"


def shape_groups(runs: pd.DataFrame, tolerance: float = SIZE_TOLERANCE, group_col: str | None = None) -> pd.Series:
    """Fixed-N group of each run: an explicit column, else chains of sizes each within `tolerance` of the
    next smaller one and within MAX_GROUP_SPAN of the group's smallest (a wider gap or span starts a new
    group), labelled by the group's median N."""
    group_col = group_col or next((c for c in GROUP_COLUMNS if c in runs), None)
    if group_col is not None:
        return runs[group_col].astype(str)
    order = runs["params_non_embedding"].sort_values()
    numbers, start, previous, current = [], None, None, -1
    for n in order:
        if start is None or n > previous * (1 + tolerance) or n > start * (1 + MAX_GROUP_SPAN):
            start, current = n, current + 1
        numbers.append(current)
        previous = n
    group = pd.Series(numbers, index=order.index)
    median = order.groupby(group).transform("median")
    return ("N~" + median.map(lambda n: f"{n:.3g}")).reindex(runs.index)


def shape_table(runs: pd.DataFrame, loss_col: str = "final_test_loss", baseline: FitResult | None = None,
                tolerance: float = SIZE_TOLERANCE) -> pd.DataFrame:
    """Per arch_shape run: group, shape ratios, loss relative to the group's best run in percent.

    With a converged L(N) `baseline`, each loss is first divided by L(N) at the run's own N, which
    compensates small parameter-count differences inside a group as Kaplan 2020 Fig. 5 does.
    """
    arch = runs[(runs["status"] == "completed") & (runs.get("grid") == "arch_shape")].copy()
    if arch.empty:
        return arch
    arch["group"] = shape_groups(arch, tolerance)
    arch["shape"] = architecture_label(arch)
    arch["aspect_ratio"] = arch["d_model"] / arch["n_layer"]
    arch["ff_ratio"] = arch["d_ff"] / arch["d_model"]
    if "n_head" not in arch:  # a table without heads: one unknown head count, so no heads series
        arch["n_head"] = np.nan
    arch["d_head"] = arch["d_model"] / arch["n_head"]
    relative = arch[loss_col].astype(float)
    if baseline is not None and baseline.ok:
        relative = relative / baseline.predict(arch["params_non_embedding"].to_numpy(float))
    arch["relative_loss"] = relative / relative.groupby(arch["group"]).transform("min")
    arch["rel_loss_pct"] = 100.0 * (arch["relative_loss"] - 1.0)
    return arch.sort_values(["group", "aspect_ratio"])


def shape_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per (group, shape): its attributes, seed count, mean relative loss, seed standard deviation and the held-out
    standard error of that mean (final_test_loss_sem in relative units, averaged over the seeds: every run is
    evaluated on the same held-out windows, so averaging seeds does not shrink it)."""
    sem = table["final_test_loss_sem"] if "final_test_loss_sem" in table else np.nan
    rel = table.assign(own_se=table["relative_loss"] * sem / table["final_test_loss"])
    attributes = {c: (c, "first") for c in SHAPE_ATTRIBUTES if c in table}
    return rel.groupby(["group", "shape"]).agg(
        **attributes, n_seeds=("relative_loss", "size"), final_test_loss=("final_test_loss", "mean"),
        mean=("relative_loss", "mean"), sd=("relative_loss", "std"), own_se=("own_se", "mean")).reset_index()


@dataclass(frozen=True)
class ShapeNoise:
    """How one group's shape means are redrawn: a standard error per shape, its degrees of freedom (inf when
    the error is taken as known), and what noise it sees."""

    se: np.ndarray
    dof: float
    source: str


def group_noise(shapes: pd.DataFrame) -> ShapeNoise:
    """Seed sd pooled over the group's shapes with 2+ seeds (each mean's error: pooled sd / sqrt(seeds)), else
    the held-out standard error of each shape's one run."""
    n, sd = shapes["n_seeds"].to_numpy(), shapes["sd"].to_numpy(float)
    replicated = (n >= 2) & np.isfinite(sd)
    if replicated.any():
        dof = int((n[replicated] - 1).sum())
        pooled = pooled_sd_log(n, sd)  # a pooled sd of any quantity; here of relative loss
        return ShapeNoise(pooled / np.sqrt(n), float(dof), SEEDS_SOURCE.format(int(replicated.sum()), dof))
    own = shapes["own_se"].to_numpy(float)
    return ShapeNoise(own, math.inf, HELD_OUT_SOURCE if np.isfinite(own).all() else NO_SOURCE)


def draw_means(shapes: pd.DataFrame, noise: ShapeNoise, n_draws: int = SPREAD_DRAWS, seed: int = 0) -> pd.DataFrame:
    """n_draws redraws of one group's shape means (columns: shape labels): normal about each mean with its
    standard error, the pooled seed variance itself redrawn from its scaled chi-square (so each mean, and each
    difference of means, follows Student's t with the pooled degrees of freedom)."""
    rng = np.random.default_rng(seed)
    scale = np.ones((n_draws, 1))
    if np.isfinite(noise.dof):
        scale = np.sqrt(noise.dof / rng.chisquare(noise.dof, (n_draws, 1)))
    normal = rng.standard_normal((n_draws, len(shapes)))
    return pd.DataFrame(shapes["mean"].to_numpy(float) + scale * noise.se * normal, columns=shapes["shape"].tolist())


def spread_pct(means: np.ndarray) -> np.ndarray:
    """Worst mean over the best, minus one, in percent, along the last axis."""
    return 100.0 * (means.max(axis=-1) / means.min(axis=-1) - 1.0)


def percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    """Two-sided CONFIDENCE percentile interval; (nan, nan) when any sample is not finite (no error known)."""
    if not np.isfinite(samples).all():
        return math.nan, math.nan
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def relative_to_best(shapes: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """One group's shapes with rel_pct (mean over the best shape's mean, minus one, in percent) and its interval,
    the best shape held fixed across draws."""
    best = shapes.loc[shapes["mean"].idxmin(), "shape"]
    rel = 100.0 * (draws.div(draws[best], axis=0) - 1.0)
    return shapes.assign(rel_pct=100.0 * (shapes["mean"] / shapes["mean"].min() - 1.0), is_best=shapes["shape"] == best,
                         rel_95=[percentile_interval(rel[s].to_numpy()) for s in shapes["shape"]])


def group_spread(group: str, shapes: pd.DataFrame, draws: pd.DataFrame, noise: ShapeNoise, tolerance: float) -> dict:
    """One row of the spread table: the group's sizes and shapes, its spread with interval, and the verdict."""
    low, high = percentile_interval(spread_pct(draws.to_numpy()))
    best, worst = shapes.loc[shapes["mean"].idxmin()], shapes.loc[shapes["mean"].idxmax()]
    seeds = shapes["n_seeds"]
    return {"group": group, "N_median": float(shapes["params_non_embedding"].median()),
            "N_min": float(shapes["params_non_embedding"].min()), "N_max": float(shapes["params_non_embedding"].max()),
            "n_shapes": len(shapes), "seeds_per_shape": f"{seeds.min()}" if seeds.nunique() == 1 else
            f"{seeds.min()}..{seeds.max()}", "best_shape": best["shape"], "worst_shape": worst["shape"],
            "aspect_min": shapes["aspect_ratio"].min(), "aspect_max": shapes["aspect_ratio"].max(),
            "spread_pct": float(spread_pct(shapes["mean"].to_numpy())), "spread_95": (low, high),
            "verdict": verdict(low / 100, high / 100, tolerance) if np.isfinite(low) else "no interval",
            "interval_source": noise.source}


def architecture_verdict(spread: pd.DataFrame, tolerance: float) -> str:
    """One sentence: the largest spread at fixed N with its interval, against Kaplan's 'within a few percent'."""
    usable = spread[spread["n_shapes"] >= 2] if not spread.empty else spread
    if usable.empty:
        return "no fixed-N group with two or more shapes: architecture independence not tested"
    worst = usable.loc[usable["spread_pct"].idxmax()]
    low, high = worst["spread_95"]
    where = (f"(group {worst['group']}: {worst['n_shapes']} shapes, aspect ratio {worst['aspect_min']:.3g}.."
             f"{worst['aspect_max']:.3g}, seeds per shape: {worst['seeds_per_shape']})")
    head = f"largest loss spread across shapes at fixed N: {worst['spread_pct']:.2f}%"
    if not np.isfinite(low):
        return f"{head} {where}; {worst['interval_source']}"
    return (f"{head} [{low:.2f}, {high:.2f}] {where}; at a tolerance of {100 * tolerance:g}% (Kaplan 2020 Fig. 5: "
            f"'a few percent', 3% in its caption): {worst['verdict']}; interval from {worst['interval_source']}")
