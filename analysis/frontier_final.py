"""The compute frontier from final (fully decayed) points: N_opt(C) and L(C_min) where runs of each model size
end at several budgets (cosine runs at several D, or the cooldown branches of a `wsd` trunk).

At each compute value the loss of every model size is interpolated (log-log, between that size's own final
points) and minimised over log N by a local parabola (analysis.optimum), as Porian et al. 2024 do, rather
than read off mid-run points of cosine curves, whose learning rate has not decayed there.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_bootstrap
from analysis.data import check_convention
from analysis.frontier import FRONTIER_KEYS, fit_optimal_size, interpolate_groups, interpolated_optima
from analysis.optimum import BUDGET_RTOL, merge_budgets
from analysis.powerlaw import fit_power_law
from analysis.result import MIN_DISTINCT_X, FitResult

MIN_BUDGETS_PER_SIZE = 2  # a size "has final points at several budgets" from two token counts on


def final_point_table(runs: pd.DataFrame, compute: str = "6n", loss_col: str = "final_test_loss") -> pd.DataFrame:
    """One row per (model size, token count) of completed runs: N, D, C (flops_per_token_<compute> x D), the
    geometric-mean final loss over seeds, and the run count (numpy, not groupby: this runs in every bootstrap)."""
    check_convention(compute)
    loss = runs[loss_col].to_numpy(float)
    usable = runs[(runs["status"] == "completed").to_numpy() & np.isfinite(loss)]
    n, d = usable["params_non_embedding"].to_numpy(float), usable["tokens"].to_numpy(float)
    pairs, inverse = np.unique(np.stack([n, d], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse, minlength=len(pairs))
    c = usable[f"flops_per_token_{compute}"].to_numpy(float) * d
    log_loss = np.log(usable[loss_col].to_numpy(float))
    return pd.DataFrame({"N": pairs[:, 0], "D": pairs[:, 1], "C": np.bincount(inverse, c) / count,
                         "loss": np.exp(np.bincount(inverse, log_loss) / count), "n_runs": count})


def _size_matrix(table: pd.DataFrame, log_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per model size, its log loss interpolated in log C between its own final points (inf outside; a size
    covers its own budgets within the merging tolerance)."""
    return interpolate_groups(table["N"].to_numpy(float), np.log(table["C"].to_numpy(float)),
                              np.log(table["loss"].to_numpy(float)), log_grid, margin=np.log1p(BUDGET_RTOL))


def _fit_final(runs: pd.DataFrame, compute: str, loss_col: str) -> FitResult:
    name = f"L(C_min) final points [{compute}]"
    table = final_point_table(runs, compute, loss_col)
    several = int((np.unique(table["N"], return_counts=True)[1] >= MIN_BUDGETS_PER_SIZE).sum())
    if several < MIN_DISTINCT_X:
        return FitResult.failed(name, f"final points at {MIN_BUDGETS_PER_SIZE} or more budgets for {several} model "
                                      f"sizes (need >= {MIN_DISTINCT_X}): no final-point frontier", FRONTIER_KEYS,
                                len(table))
    log_grid = np.log(np.sort(merge_budgets(table["C"]).unique()))
    sizes, matrix = _size_matrix(table, log_grid)
    optima = interpolated_optima(log_grid, sizes, matrix)
    good = optima[optima["bracketed"]]
    loss_fit = fit_power_law(good["compute"], good["L_opt"], symbol="C", name=name)
    result = FitResult(name, {**loss_fit.params, "a_Nopt": np.nan}, loss_fit.converged, loss_fit.message,
                       r2_log=loss_fit.r2_log, n_points=len(good), objective=loss_fit.objective,
                       diagnostics=[f"{len(good)} of {len(optima)} compute values with a bracketed optimum"]
                       + loss_fit.diagnostics, predict=loss_fit.predict, extra={"points": table})
    fit_optimal_size(optima, result)
    result.extra["optima"] = optima
    return result


def fit_final_frontier(runs: pd.DataFrame, *, compute: str = "6n", loss_col: str = "final_test_loss",
                       n_boot: int = 200, seed: int = 0) -> FitResult:
    """α_C, C_c (L_opt(C) = (C_c/C)^α_C) and a_Nopt (N_opt ∝ C^a) from runs' final points, bootstrapped over
    runs; a failed result saying why when fewer than MIN_DISTINCT_X sizes end at several budgets."""
    def fit(frame):
        return _fit_final(frame, compute, loss_col)

    result = fit(runs)
    result.extra["compute"] = f"compute_{compute}"
    return attach_bootstrap(result, fit, runs, n_boot, seed, unit="run_id" if "run_id" in runs else None)
