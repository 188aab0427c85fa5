"""IsoFLOP profiles (Hoffmann 2022 approach 2): per budget the minimum of a local parabola in log N through
the sizes nearest the lowest point (analysis.optimum), then N_opt ∝ C^a, D_opt ∝ C^b."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_bootstrap
from analysis.data import aggregate_replicates, final_compute
from analysis.optimum import LOCAL_HALF_WIDTH_DECADES, local_minima, merge_budgets
from analysis.result import MIN_DISTINCT_X, FitResult, r2_log

ISOFLOP_KEYS = ["a", "b"]


def _budget_compute(group: pd.DataFrame, log_n_opt: float, compute: str) -> float:
    """The budget C: the design budget, or a convention's compute interpolated in log N to N_opt."""
    if compute == "budget":
        return float(group["compute_budget"].iloc[0])
    slope, intercept = np.polyfit(np.log(group["params_non_embedding"]), np.log(final_compute(group, compute)), 1)
    return float(math.exp(intercept + slope * log_n_opt))


def _profile_minimum(group: pd.DataFrame, loss_col: str, compute: str, half_width: float) -> dict:
    """Local parabola in log N through the sizes of one budget near its lowest final loss (analysis.optimum);
    its vertex and what may be wrong with it."""
    table = aggregate_replicates(group, "params_non_embedding", loss_col)
    row = {"budget": float(group["compute_budget"].iloc[0]), "n_runs": len(group), "n_sizes": len(table),
           "N_opt": math.nan, "D_opt": math.nan, "L_opt": math.nan, "C": math.nan, "edge": False, "ok": False}
    if len(table) < MIN_DISTINCT_X or not np.isfinite(table["loss"]).all():
        return {**row, "message": f"{len(table)} distinct sizes or non-finite losses: no parabola"}
    log_n = np.log(table["x"].to_numpy(float))
    vertex = local_minima(log_n, table["loss"].to_numpy(float), table["weight"].to_numpy(float), half_width).iloc[0]
    if not vertex["c2"] > 0:
        return {**row, "message": "local profile is not convex (parabola opens downward): no minimum"}
    log_n_opt = float(vertex["log_n_opt"])
    tok_slope, tok_offset = np.polyfit(log_n, np.log(group.groupby("params_non_embedding")["tokens"].mean()), 1)
    centre, c2, c1, c0 = (float(vertex[k]) for k in ("centre", "c2", "c1", "c0"))
    coeffs = (c2, c1 - 2 * c2 * centre, c0 - c1 * centre + c2 * centre**2)  # in log N itself, for plots
    used = np.argsort(np.abs(log_n - centre), kind="stable")[:int(vertex["n_local"])]
    fitted = np.polyval(coeffs, log_n[used])
    edge = not bool(vertex["bracketed"])
    return {**row, "N_opt": math.exp(log_n_opt), "D_opt": math.exp(tok_offset + tok_slope * log_n_opt),
            "L_opt": float(vertex["loss_opt"]), "C": _budget_compute(group, log_n_opt, compute),
            "edge": edge, "ok": True, "coeffs": coeffs, "n_local": len(used),
            "N_local_min": math.exp(log_n[used].min()), "N_local_max": math.exp(log_n[used].max()),
            "r2_log": r2_log(table["loss"].to_numpy(float)[used], fitted),
            "message": f"minimum not bracketed ({vertex['message']})" if edge else "bracketed"}


def isoflop_minima(runs: pd.DataFrame, loss_col: str = "final_test_loss", compute: str = "budget",
                   half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> pd.DataFrame:
    """One row per compute budget (budgets within BUDGET_RTOL merged): local parabola vertex N_opt, D_opt
    (tokens interpolated there), L_opt, flags."""
    usable = runs[(runs["status"] == "completed") & (runs["grid"] == "isoflop")] if "grid" in runs else runs
    usable = usable.assign(compute_budget=merge_budgets(usable["compute_budget"]))
    rows = [_profile_minimum(group, loss_col, compute, half_width_decades)
            for _, group in usable.groupby("compute_budget")]
    return pd.DataFrame(rows)


def _fit_isoflop(runs: pd.DataFrame, loss_col: str, compute: str, half_width: float) -> FitResult:
    minima = isoflop_minima(runs, loss_col, compute, half_width)
    if minima.empty:
        return FitResult.failed("IsoFLOP", "no runs with grid=='isoflop'", ISOFLOP_KEYS)
    good = minima[minima["ok"] & ~minima["edge"]]
    notes = [f"budget {r.budget:.3g}: {r.message}" for r in minima.itertuples() if not r.ok or r.edge]
    if good["C"].nunique() < MIN_DISTINCT_X:
        result = FitResult.failed("IsoFLOP", f"IsoFLOP: {good['C'].nunique()} budgets with a bracketed minimum "
                                  f"(need >= {MIN_DISTINCT_X})", ISOFLOP_KEYS, len(minima))
        result.diagnostics, result.extra["minima"] = notes, minima
        return result
    log_c = np.log(good["C"].to_numpy(float))
    a, a0 = np.polyfit(log_c, np.log(good["N_opt"].to_numpy(float)), 1)
    b, b0 = np.polyfit(log_c, np.log(good["D_opt"].to_numpy(float)), 1)

    def predict(c):
        return np.exp(a0 + a * np.log(np.asarray(c, float)))

    r2_a = r2_log(good["N_opt"].to_numpy(float), predict(good["C"]))
    r2_b = r2_log(good["D_opt"].to_numpy(float), np.exp(b0 + b * log_c))
    objective = float(np.sum((np.log(good["N_opt"].to_numpy(float)) - np.log(predict(good["C"]))) ** 2))
    return FitResult("IsoFLOP", {"a": float(a), "b": float(b)}, True, "converged", r2_log=r2_a, n_points=len(good),
                     diagnostics=notes, objective=objective, predict=predict,
                     extra={"minima": minima, "r2_log_of": {"a": r2_a, "b": r2_b}})


def fit_isoflop(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", compute: str = "budget",
                n_boot: int = 200, seed: int = 0, half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> FitResult:
    """N_opt ∝ C^a and D_opt ∝ C^b from IsoFLOP local parabolas (sizes within half_width_decades of each
    budget's lowest point; a large value fits one parabola to the whole profile, as Hoffmann 2022 does);
    compute = 'budget' or a convention key."""
    def fit(frame):
        return _fit_isoflop(frame, loss_col, compute, half_width_decades)

    return attach_bootstrap(fit(runs), fit, runs, n_boot, seed, strata="compute_budget")
