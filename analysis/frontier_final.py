"""The compute frontier from final (fully decayed) points: N_opt(C) and L(C_min) where runs of each model size
end at several budgets (cosine runs at several D, or the cooldown branches of a `wsd` trunk).

At each compute value the loss of every model size is interpolated (log-log, between that size's own final
points) and minimised over log N by a local parabola (analysis.optimum), as Porian et al. 2024 do, rather
than read off mid-run points of cosine curves, whose learning rate has not decayed there.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_batch_bootstrap, one_by_one
from analysis.data import check_convention
from analysis.frontier import FRONTIER_KEYS, fit_optimal_size, interpolate_groups, optima_arrays, optimal_size_line
from analysis.optimum import BUDGET_RTOL, merged_budget_values
from analysis.powerlaw import fit_power_law
from analysis.result import MIN_DISTINCT_X, FitResult

MIN_BUDGETS_PER_SIZE = 2  # a size "has final points at several budgets" from two token counts on


def final_point_table(runs: pd.DataFrame, compute: str = "6n", loss_col: str = "final_test_loss") -> pd.DataFrame:
    """One row per (model size, token count) of completed runs: N, D, C (flops_per_token_<compute> x D), the
    geometric-mean final loss over seeds, and the run count."""
    arrays, _ = _run_arrays(runs, compute, loss_col)
    return pd.DataFrame(dict(zip(["N", "D", "C", "loss", "n_runs"], _final_points(*arrays))))


def _run_arrays(runs: pd.DataFrame, compute: str, loss_col: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """(N, D, FLOPs per token, loss) of the completed runs with a finite loss, and their rows in `runs`."""
    check_convention(compute)
    loss = runs[loss_col].to_numpy(float)
    rows = np.flatnonzero((runs["status"] == "completed").to_numpy() & np.isfinite(loss))
    usable = runs.iloc[rows]
    return (usable["params_non_embedding"].to_numpy(float), usable["tokens"].to_numpy(float),
            usable[f"flops_per_token_{compute}"].to_numpy(float), loss[rows]), rows


def _final_points(n, d, flops_per_token, loss) -> tuple[np.ndarray, ...]:
    """Per distinct (N, D): N, D, mean C, geometric-mean loss, run count (numpy: this runs in every refit)."""
    pairs, inverse = np.unique(np.stack([n, d], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    count = np.bincount(inverse, minlength=len(pairs))
    c = np.bincount(inverse, flops_per_token * d, minlength=len(pairs)) / count
    mean_log_loss = np.bincount(inverse, np.log(loss), minlength=len(pairs)) / count
    return pairs[:, 0], pairs[:, 1], c, np.exp(mean_log_loss), count


def _fit_final(points: tuple[np.ndarray, ...], name: str, frames: bool = True) -> FitResult:
    """The final-point frontier from _final_points' arrays; with `frames`, the points and optima as DataFrames
    in `extra` (a bootstrap refit needs only the parameters)."""
    n, _, c, loss, _ = points
    several = int((np.unique(n, return_counts=True)[1] >= MIN_BUDGETS_PER_SIZE).sum())
    if several < MIN_DISTINCT_X:
        return FitResult.failed(name, f"final points at {MIN_BUDGETS_PER_SIZE} or more budgets for {several} model "
                                      f"sizes (need >= {MIN_DISTINCT_X}): no final-point frontier", FRONTIER_KEYS,
                                len(n))
    log_grid = np.log(merged_budget_values(c))
    # per model size, its log loss interpolated in log C between its own final points (inf outside; a size
    # covers its own budgets within the merging tolerance)
    sizes, matrix = interpolate_groups(n, np.log(c), np.log(loss), log_grid, margin=np.log1p(BUDGET_RTOL))
    optima = optima_arrays(log_grid, sizes, matrix)
    good = optima["bracketed"]
    loss_fit = fit_power_law(optima["compute"][good], optima["L_opt"][good], symbol="C", name=name)
    result = FitResult(name, {**loss_fit.params, "a_Nopt": np.nan}, loss_fit.converged, loss_fit.message,
                       r2_log=loss_fit.r2_log, n_points=int(good.sum()), objective=loss_fit.objective,
                       diagnostics=[f"{int(good.sum())} of {len(good)} compute values with a bracketed optimum"]
                       + loss_fit.diagnostics, predict=loss_fit.predict)
    if not frames:
        line = optimal_size_line(optima["compute"], optima["N_opt"], good)
        result.params["a_Nopt"] = float(line[0]) if line else np.nan
        return result
    result.extra["points"] = pd.DataFrame(dict(zip(["N", "D", "C", "loss", "n_runs"], points)))
    fit_optimal_size(pd.DataFrame(optima), result)
    result.extra["optima"] = pd.DataFrame(optima)
    return result


def fit_final_frontier(runs: pd.DataFrame, *, compute: str = "6n", loss_col: str = "final_test_loss",
                       n_boot: int = 200, seed: int = 0) -> FitResult:
    """α_C, C_c (L_opt(C) = (C_c/C)^α_C) and a_Nopt (N_opt ∝ C^a) from runs' final points, bootstrapped over
    runs; a failed result saying why when fewer than MIN_DISTINCT_X sizes end at several budgets."""
    name = f"L(C_min) final points [{compute}]"
    arrays, rows = _run_arrays(runs, compute, loss_col)
    result = _fit_final(_final_points(*arrays), name)
    result.extra["compute"] = f"compute_{compute}"

    def refit(counts):
        picked = np.repeat(np.arange(len(rows)), counts[rows])
        return _fit_final(_final_points(*(a[picked] for a in arrays)), name, frames=False)

    return attach_batch_bootstrap(result, one_by_one(refit, FRONTIER_KEYS), runs, n_boot, seed,
                                  unit="run_id" if "run_id" in runs else None)
