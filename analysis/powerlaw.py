"""Single-variable power laws L(X) = (X_c/X)^α_X (+ L∞): Kaplan 2020 eqs. 1.1 and 1.2."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from analysis.bootstrap import attach_bootstrap
from analysis.data import aggregate_replicates, select_grid
from analysis.result import FitResult, check_points, dof_diagnostics, floor_diagnostics, multistart_best, r2_log

FLOOR_START_FRACTIONS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95)  # L∞ starts as fractions of the smallest loss
FLOOR_LOG_RANGE = 20.0  # L∞ may sit e^-20 below the smallest loss; there it means "no floor"


def power_law_value(x, alpha: float, x_c: float, l_inf: float = 0.0) -> np.ndarray:
    """(x_c/x)^alpha + l_inf."""
    return (x_c / np.asarray(x, float)) ** alpha + l_inf


def _floor_residuals(theta, lx, ly, sw):
    k, alpha, e = theta
    return sw * (np.logaddexp(e, k - alpha * lx) - ly)


def _fit_floor(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, bool, list[str]]:
    """Least squares on log L = LSE(e, k - α·lx) from a grid of L∞ starts; best kept."""
    lo_e = ly.min() - FLOOR_LOG_RANGE
    fits = []
    for fraction in FLOOR_START_FRACTIONS:
        floor = fraction * math.exp(ly.min())
        slope, k0 = np.polyfit(lx, np.log(np.exp(ly) - floor), 1, w=np.sqrt(w))
        start = np.array([k0, max(-slope, 1e-3), max(math.log(floor) if floor > 0 else lo_e, lo_e + 1)])
        fit = least_squares(_floor_residuals, start, args=(lx, ly, np.sqrt(w)), method="trf",
                            bounds=([-np.inf, 0.0, lo_e], [np.inf, 10.0, np.inf]), x_scale="jac")
        fits.append((fit.cost, fit, start))
    best, diagnostics = multistart_best(fits, exponent_slice=slice(1, 2))
    return best.x, bool(best.success), diagnostics + floor_diagnostics("L_inf", math.exp(best.x[2]), np.exp(ly))


MAX_LOG_FLOAT = math.log(np.finfo(float).max)  # ~709.78: the largest x with exp(x) finite


def fit_power_law(x, loss, weights=None, *, symbol: str = "X", irreducible: bool = False,
                  name: str | None = None) -> FitResult:
    """Fit L = (X_c/X)^α_X (+ L∞) by weighted least squares on log L (Kaplan 2020 eqs. 1.1–1.2); the
    objective is the weighted sum of squared log residuals (weights normalised to mean 1)."""
    name = name or f"L({symbol})"
    keys = [f"alpha_{symbol}", f"{symbol}_c"] + (["L_inf"] if irreducible else [])
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    problem = check_points(name, x, loss)
    if problem:
        return FitResult.failed(name, problem, keys, len(x))
    w = np.ones_like(x) if weights is None else np.asarray(weights, float) / np.mean(weights)
    lx, ly = np.log(x), np.log(loss)
    center = float(np.average(lx, weights=w))  # centring decorrelates the amplitude and the exponent
    if irreducible:
        (k, alpha, e), converged, diagnostics = _fit_floor(lx - center, ly, w)
    else:
        slope, k = np.polyfit(lx - center, ly, 1, w=np.sqrt(w))
        alpha, e, converged, diagnostics = -slope, -np.inf, True, []
    if alpha <= 0:
        return FitResult.failed(name, f"{name}: loss does not fall with {symbol} (exponent {alpha:.3g})",
                                keys, len(x))
    log_scale = center + k / alpha
    if log_scale > MAX_LOG_FLOAT:
        return FitResult.failed(name, f"{name}: exponent {alpha:.3g} is so small that {symbol}_c = e^{log_scale:.3g} "
                                      "overflows: the loss barely changes with " + symbol, keys, len(x))
    params = {keys[0]: float(alpha), keys[1]: float(math.exp(log_scale))}
    if irreducible:
        params["L_inf"] = float(math.exp(e))

    def predict(xs):
        return power_law_value(xs, params[keys[0]], params[keys[1]], params.get("L_inf", 0.0))

    message = "converged" if converged else f"{name}: optimiser did not report convergence"
    diagnostics += dof_diagnostics(len(np.unique(x)), len(keys))
    objective = float(np.sum(w * (np.log(predict(x)) - ly) ** 2))  # weighted sum of squared log residuals
    return FitResult(name, params, converged, message, r2_log=r2_log(loss, predict(x)), n_points=len(x),
                     diagnostics=diagnostics, objective=objective, predict=predict, extra={"x": x, "loss": loss})


def fit_aggregated(runs: pd.DataFrame, x_col: str, loss_col: str, symbol: str, irreducible: bool) -> FitResult:
    """Power law on per-x means of seed replicates, weighted by their noise (data.replicate_weights)."""
    if runs.empty:
        return fit_power_law([], [], symbol=symbol, irreducible=irreducible)
    table = aggregate_replicates(runs, x_col, loss_col)
    return fit_power_law(table["x"], table["loss"], table["weight"], symbol=symbol, irreducible=irreducible)


def _grid_fit(runs, grid, x_col, symbol, loss_col, irreducible, n_boot, seed) -> FitResult:
    chosen, note, inferred = select_grid(runs[runs["status"] == "completed"], grid)

    def fit(frame):
        return fit_aggregated(frame, x_col, loss_col, symbol, irreducible)

    result = attach_bootstrap(fit(chosen), fit, chosen, n_boot, seed)
    if chosen.empty and inferred:  # say why nothing was selected, not merely that nothing was fitted
        result.message = f"L({symbol}): {note}"
    elif inferred:
        result.diagnostics.insert(0, note)
    result.extra.update(selection=note, runs=chosen)
    return result


def fit_loss_vs_params(runs: pd.DataFrame, *, loss_col: str = "best_test_loss", irreducible: bool = False,
                       n_boot: int = 200, seed: int = 0) -> FitResult:
    """L(N) = (N_c/N)^α_N (+ L∞), Kaplan 2020 eq. 1.1, on the n_grid runs at their largest D."""
    return _grid_fit(runs, "n_grid", "params_non_embedding", "N", loss_col, irreducible, n_boot, seed)


def fit_loss_vs_tokens(runs: pd.DataFrame, *, loss_col: str = "best_test_loss", irreducible: bool = False,
                       n_boot: int = 200, seed: int = 0) -> FitResult:
    """L(D) = (D_c/D)^α_D (+ L∞), Kaplan 2020 eq. 1.2, on the d_grid runs."""
    return _grid_fit(runs, "d_grid", "tokens", "D", loss_col, irreducible, n_boot, seed)
