"""Architecture independence (Kaplan 2020 sec. 3.1, Fig. 5): loss spread across shapes at fixed N."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from analysis.bootstrap import CONFIDENCE
from analysis.data import architecture_label
from analysis.families import combined_verdict, verdict
from analysis.published import KAPLAN_SHAPE_SPREAD_PCT
from analysis.result import FitResult

# Sizes within 20% of the next smaller size join its "fixed N" group, as long as the group spans at most
# 25% from its smallest member (a chain of sizes each 19% apart is not one "fixed N"). The arch_shape
# preset's groups lie about 4x apart, with up to 20.3% between a group's ends (744,000 to 894,912).
SIZE_TOLERANCE = 0.20
MAX_GROUP_SPAN = 0.25
GROUP_COLUMNS = ("arch_group", "size_group", "shape_group")  # an explicit grouping column wins if present


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
    """Per arch_shape run: group, shape ratios, loss relative to the group's best shape in percent.

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
    relative = arch[loss_col].astype(float)
    if baseline is not None and baseline.ok:
        relative = relative / baseline.predict(arch["params_non_embedding"].to_numpy(float))
    arch["relative_loss"] = relative / relative.groupby(arch["group"]).transform("min")
    arch["rel_loss_pct"] = 100.0 * (arch["relative_loss"] - 1.0)
    return arch.sort_values(["group", "aspect_ratio"])


def shape_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per fixed-N group: size, number of shapes, best shape, largest loss excess over it (percent)."""
    rows = []
    for group, runs in table.groupby("group"):
        best = runs.loc[runs["rel_loss_pct"].idxmin()]
        rows.append({"group": group, "N_median": float(runs["params_non_embedding"].median()),
                     "N_min": float(runs["params_non_embedding"].min()),
                     "N_max": float(runs["params_non_embedding"].max()),
                     "n_shapes": runs["shape"].nunique(), "best_shape": best["shape"],
                     "aspect_min": runs["aspect_ratio"].min(), "aspect_max": runs["aspect_ratio"].max(),
                     "spread_pct": float(runs["rel_loss_pct"].max())})
    return pd.DataFrame(rows)


def architecture_verdict(spread: pd.DataFrame) -> str:
    """One sentence comparing the largest spread at fixed N with Kaplan's 'within a few percent'."""
    usable = spread[spread["n_shapes"] >= 2] if not spread.empty else spread
    if usable.empty:
        return "no fixed-N group with two or more shapes: architecture independence not tested"
    worst = usable.loc[usable["spread_pct"].idxmax()]
    within = "within" if worst["spread_pct"] <= KAPLAN_SHAPE_SPREAD_PCT else "outside"
    return (f"largest loss spread across shapes at fixed N: {worst['spread_pct']:.2f}% (group {worst['group']}, "
            f"aspect ratio {worst['aspect_min']:.3g}..{worst['aspect_max']:.3g}); {within} Kaplan's "
            f"{KAPLAN_SHAPE_SPREAD_PCT:g}% (Kaplan 2020 sec. 3.1, Fig. 5: 'within a few percent')")


# A shape's interval is its difference +- this many standard errors: the two-sided normal quantile of CONFIDENCE.
Z_95 = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)


def _shape_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per (group, shape): mean relative loss and its standard error, from seed replicates when a shape has
    two or more, else from the held-out windows' standard error of its one run (final_test_loss_sem)."""
    sem = table["final_test_loss_sem"] if "final_test_loss_sem" in table else np.nan  # NaN: not resolved
    rel = table.assign(own_se=table["relative_loss"] * sem / table["final_test_loss"])
    grouped = rel.groupby(["group", "shape"])
    means = grouped.agg(mean=("relative_loss", "mean"), sd=("relative_loss", "std"), n=("relative_loss", "size"),
                        own_se=("own_se", "mean")).reset_index()
    means["se"] = (means["sd"] / means["n"] ** 0.5).where(means["n"] >= 2, means["own_se"])
    return means


def shape_equivalence(table: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per fixed-N group: the worst shape's loss excess over the best, its 95% interval and the group's verdict
    over all its shapes (analysis.families.verdict); the best shape is chosen from the same data, so the
    excesses lean positive (docs/deviations.md)."""
    rows = []
    for group, shapes in _shape_means(table).groupby("group"):
        if len(shapes) < 2:
            continue
        best = shapes.loc[shapes["mean"].idxmin()]
        others = shapes.drop(index=best.name)
        excess = others["mean"] / best["mean"] - 1.0
        se = (others["se"] ** 2 + best["se"] ** 2) ** 0.5 / best["mean"]
        verdicts = [verdict(e - Z_95 * s, e + Z_95 * s, tolerance) for e, s in zip(excess, se)]
        worst = excess.idxmax()
        rows.append({"group": group, "n_shapes": len(shapes), "best_shape": best["shape"],
                     "worst_shape": others.loc[worst, "shape"], "worst_excess": float(excess[worst]),
                     "interval_95": (float(excess[worst] - Z_95 * se[worst]), float(excess[worst] + Z_95 * se[worst])),
                     "verdict": combined_verdict(verdicts, tolerance)})
    return pd.DataFrame(rows)
