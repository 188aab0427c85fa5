"""IsoFLOP profiles (Hoffmann 2022 approach 2): per budget the minimum of a local parabola in log N through
the sizes nearest the lowest point (analysis.optimum), then N_opt ∝ C^a, D_opt ∝ C^b."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_batch_bootstrap, one_by_one
from analysis.data import aggregate_arrays, final_compute
from analysis.optimum import LOCAL_HALF_WIDTH_DECADES, local_minima_arrays, merge_budgets
from analysis.result import MIN_DISTINCT_X, FitResult, r2_log

ISOFLOP_KEYS = ["a", "b"]
ISOFLOP_GRID = "isoflop"
"""Grid label of IsoFLOP runs; a design that gives each range of budgets its own sizes (as Hoffmann 2022 chose a
range of model sizes per budget) names its grids isoflop_<part>, and the profiles read them all."""


def isoflop_rows(grid: pd.Series) -> pd.Series:
    """Which runs belong to an IsoFLOP design, by their grid label."""
    return (grid == ISOFLOP_GRID) | grid.astype(str).str.startswith(f"{ISOFLOP_GRID}_")


def _profile_minimum(budget: float, n: np.ndarray, tokens: np.ndarray, loss: np.ndarray, compute: np.ndarray | None,
                     half_width: float) -> dict:
    """Local parabola in log N through the sizes of one budget near its lowest final loss (analysis.optimum);
    its vertex and what may be wrong with it. The runs of the budget as arrays (N, tokens, loss and, unless
    the budget itself is the compute, each run's training FLOPs under the convention)."""
    x, mean_loss, count, _, weight = aggregate_arrays(n, loss)
    row = {"budget": budget, "n_runs": len(n), "n_sizes": len(x),
           "N_opt": math.nan, "D_opt": math.nan, "L_opt": math.nan, "C": math.nan, "edge": False, "ok": False}
    if len(x) < MIN_DISTINCT_X or not np.isfinite(mean_loss).all():
        return {**row, "message": f"{len(x)} distinct sizes or non-finite losses: no parabola"}
    log_n = np.log(x)
    vertex = {k: v[0] for k, v in local_minima_arrays(log_n, mean_loss, weight, half_width).items()}
    if not vertex["c2"] > 0:
        return {**row, "message": "local profile is not convex (parabola opens downward): no minimum"}
    log_n_opt = float(vertex["log_n_opt"])
    mean_tokens = np.bincount(np.unique(n, return_inverse=True)[1].ravel(), tokens) / count
    tok_slope, tok_offset = np.polyfit(log_n, np.log(mean_tokens), 1)
    centre, c2, c1, c0 = (float(vertex[k]) for k in ("centre", "c2", "c1", "c0"))
    coeffs = (c2, c1 - 2 * c2 * centre, c0 - c1 * centre + c2 * centre**2)  # in log N itself, for plots
    used = np.argsort(np.abs(log_n - centre), kind="stable")[:int(vertex["n_local"])]
    fitted = np.polyval(coeffs, log_n[used])
    edge = not bool(vertex["bracketed"])
    if compute is None:  # the design budget
        c_opt = budget
    else:  # the convention's compute interpolated in log N to N_opt
        slope, intercept = np.polyfit(np.log(n), np.log(compute), 1)
        c_opt = float(math.exp(intercept + slope * log_n_opt))
    return {**row, "N_opt": math.exp(log_n_opt), "D_opt": math.exp(tok_offset + tok_slope * log_n_opt),
            "L_opt": float(vertex["loss_opt"]), "C": c_opt, "edge": edge, "ok": True, "coeffs": coeffs,
            "n_local": len(used), "N_local_min": math.exp(log_n[used].min()),
            "N_local_max": math.exp(log_n[used].max()), "r2_log": r2_log(mean_loss[used], fitted),
            "message": f"minimum not bracketed ({vertex['message']})" if edge else "bracketed"}


def _budget_groups(runs: pd.DataFrame, loss_col: str, compute: str) -> list[tuple[float, np.ndarray, tuple]]:
    """Per compute budget (budgets within BUDGET_RTOL merged), ascending: the budget, its runs' rows in `runs`
    and their (N, tokens, loss, FLOPs or None) arrays."""
    if "grid" in runs:
        rows = np.flatnonzero(((runs["status"] == "completed") & isoflop_rows(runs["grid"])).to_numpy())
    else:  # a points table: every row is a run of the design
        rows = np.arange(len(runs))
    budgets = merge_budgets(runs["compute_budget"].iloc[rows]).to_numpy(float)
    chosen = runs.iloc[rows]
    arrays = (chosen["params_non_embedding"].to_numpy(float), chosen["tokens"].to_numpy(float),
              chosen[loss_col].to_numpy(float), None if compute == "budget" else final_compute(chosen, compute)
              .to_numpy(float))
    groups = []
    for budget in np.unique(budgets[np.isfinite(budgets)]):
        member = budgets == budget
        groups.append((float(budget), rows[member], tuple(None if a is None else a[member] for a in arrays)))
    return groups


def isoflop_minima(runs: pd.DataFrame, loss_col: str = "final_test_loss", compute: str = "budget",
                   half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> pd.DataFrame:
    """One row per compute budget (budgets within BUDGET_RTOL merged): local parabola vertex N_opt, D_opt
    (tokens interpolated there), L_opt, flags."""
    return pd.DataFrame([_profile_minimum(budget, *arrays, half_width_decades)
                         for budget, _, arrays in _budget_groups(runs, loss_col, compute)])


def _fit_isoflop(minima: list[dict]) -> FitResult:
    """N_opt ∝ C^a and D_opt ∝ C^b through the bracketed budget minima (rows of _profile_minimum)."""
    if not minima:
        return FitResult.failed("IsoFLOP", "no runs with grid 'isoflop' or 'isoflop_<part>'", ISOFLOP_KEYS)
    good = [m for m in minima if m["ok"] and not m["edge"]]
    notes = [f"budget {m['budget']:.3g}: {m['message']}" for m in minima if not m["ok"] or m["edge"]]
    c, n_opt, d_opt = (np.array([m[k] for m in good], float) for k in ("C", "N_opt", "D_opt"))
    if len(np.unique(c)) < MIN_DISTINCT_X:
        result = FitResult.failed("IsoFLOP", f"IsoFLOP: {len(np.unique(c))} budgets with a bracketed minimum "
                                  f"(need >= {MIN_DISTINCT_X})", ISOFLOP_KEYS, len(minima))
        result.diagnostics = notes
        return result
    log_c = np.log(c)
    a, a0 = np.polyfit(log_c, np.log(n_opt), 1)
    b, b0 = np.polyfit(log_c, np.log(d_opt), 1)

    def predict(compute):
        return np.exp(a0 + a * np.log(np.asarray(compute, float)))

    r2_a = r2_log(n_opt, predict(c))
    r2_b = r2_log(d_opt, np.exp(b0 + b * log_c))
    objective = float(np.sum((np.log(n_opt) - np.log(predict(c))) ** 2))
    return FitResult("IsoFLOP", {"a": float(a), "b": float(b)}, True, "converged", r2_log=r2_a, n_points=len(good),
                     diagnostics=notes, objective=objective, predict=predict,
                     extra={"r2_log_of": {"a": r2_a, "b": r2_b}})


def fit_isoflop(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", compute: str = "budget",
                n_boot: int = 200, seed: int = 0, half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> FitResult:
    """N_opt ∝ C^a and D_opt ∝ C^b from IsoFLOP local parabolas (sizes within half_width_decades of each
    budget's lowest point; a large value fits one parabola to the whole profile, as Hoffmann 2022 does);
    compute = 'budget' or a convention key."""
    groups = _budget_groups(runs, loss_col, compute)
    minima = [_profile_minimum(budget, *arrays, half_width_decades) for budget, _, arrays in groups]
    result = _fit_isoflop(minima)
    if groups:
        result.extra["minima"] = pd.DataFrame(minima)

    def refit(counts):  # each resample redraws the runs of every budget (stratum) and refits their minima
        redrawn = []
        for budget, rows, arrays in groups:
            picked = np.repeat(np.arange(len(rows)), counts[rows])
            redrawn.append(_profile_minimum(budget, *(None if a is None else a[picked] for a in arrays),
                                            half_width_decades))
        return _fit_isoflop(redrawn)

    return attach_batch_bootstrap(result, one_by_one(refit, ISOFLOP_KEYS), runs, n_boot, seed,
                                  strata="compute_budget")
