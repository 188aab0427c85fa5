"""Single-variable power laws L(X) = (X_c/X)^α_X (+ L∞): Kaplan 2020 eqs. 1.1 and 1.2."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.batchfit import BatchResult, least_squares_terms, minimize_batch, padded
from analysis.bootstrap import attach_batch_bootstrap
from analysis.data import aggregate_arrays, aggregate_replicates, select_grid
from analysis.result import FitResult, batch_best, check_points, dof_diagnostics, floor_diagnostics, r2_log

FLOOR_START_FRACTIONS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95)  # L∞ starts as fractions of the smallest loss
FLOOR_LOG_RANGE = 20.0  # L∞ may sit e^-20 below the smallest loss; there it means "no floor"
MAX_EXPONENT = 10.0  # upper bound of α in the L∞ fit, far above any language-model exponent (Kaplan's are < 0.1)


def power_law_value(x, alpha: float, x_c: float, l_inf: float = 0.0) -> np.ndarray:
    """(x_c/x)^alpha + l_inf."""
    return (x_c / np.asarray(x, float)) ** alpha + l_inf


def _floor_terms(theta, lx, ly, weight, derivatives=True):
    """Per problem: ½ Σ w r² of r = LSE(e, k - α·lx) - log L, and with `derivatives` its gradient and the
    Gauss–Newton Hessian from the analytic Jacobian ∂r/∂(k, α, e)."""
    k, alpha, e = (theta[:, [i]] for i in range(3))
    z = k - alpha * lx
    lse = np.logaddexp(e, z)
    r = lse - ly
    if not derivatives:
        return 0.5 * np.sum(weight * r * r, axis=1)
    power, floor = np.exp(z - lse), np.exp(e - lse)  # the shares of the power law and of L∞
    return least_squares_terms(r, np.stack([power, -power * lx, floor], axis=-1), weight)


def _floor_starts(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One (k, α, e) start per L∞ of FLOOR_START_FRACTIONS: the line through log(L - L∞)."""
    lo_e = ly.min() - FLOOR_LOG_RANGE
    starts = []
    for fraction in FLOOR_START_FRACTIONS:
        floor = fraction * math.exp(ly.min())
        slope, k0 = np.polyfit(lx, np.log(np.exp(ly) - floor), 1, w=np.sqrt(w))
        starts.append([k0, max(-slope, 1e-3), max(math.log(floor) if floor > 0 else lo_e, lo_e + 1)])
    return np.array(starts)


def _floor_minimise(points: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> BatchResult:
    """Least squares on log L = LSE(e, k - α·lx) for every (lx, ly, w) of `points` from each of its
    FLOOR_START_FRACTIONS starts at once; results ordered point set by point set, start by start."""
    lx, ly, w, _ = padded(points)  # the padding's weight w is 0
    data_of = np.repeat(np.arange(len(points)), len(FLOOR_START_FRACTIONS))
    lower = np.array([[-np.inf, 0.0, y.min() - FLOOR_LOG_RANGE] for _, y, _ in points])[data_of]
    upper = np.array([np.inf, MAX_EXPONENT, np.inf])

    def evaluate(theta, rows, derivatives):
        k = data_of[rows]
        return _floor_terms(theta, lx[k], ly[k], w[k], derivatives)

    return minimize_batch(evaluate, np.concatenate([_floor_starts(*p) for p in points]), lower, upper)


def _fit_floor(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, bool, list[str]]:
    """Least squares on log L = LSE(e, k - α·lx) from a grid of L∞ starts; best kept."""
    batch, starts = _floor_minimise([(lx, ly, w)]), _floor_starts(lx, ly, w)
    best, diagnostics = batch_best(starts, batch.x, batch.fun, exponent_slice=slice(1, 2))
    theta = batch.x[best]
    diagnostics += floor_diagnostics("L_inf", math.exp(theta[2]), np.exp(ly))
    return theta, bool(batch.converged[best]), diagnostics


MAX_LOG_FLOAT = math.log(np.finfo(float).max)  # ~709.78: the largest x with exp(x) finite


def _centred(x: np.ndarray, loss: np.ndarray, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(log x - centre, log loss, weights normalised to mean 1, centre = weighted mean of log x)."""
    w = np.ones_like(x) if weights is None else np.asarray(weights, float) / np.mean(weights)
    lx, ly = np.log(x), np.log(loss)
    center = float(np.average(lx, weights=w))  # centring decorrelates the amplitude and the exponent
    return lx - center, ly, w, center


def _line(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(α, k): the weighted least-squares line log L = k - α·lx."""
    slope, k = np.polyfit(lx, ly, 1, w=np.sqrt(w))
    return -slope, k


def _scale_or_problem(name: str, symbol: str, alpha: float, log_scale: float) -> str | None:
    """Why exponent α and log X_c = log_scale give no power law, or None."""
    if alpha <= 0:
        return f"{name}: loss does not fall with {symbol} (exponent {alpha:.3g})"
    if log_scale > MAX_LOG_FLOAT:
        return (f"{name}: exponent {alpha:.3g} is so small that {symbol}_c = e^{log_scale:.3g} overflows: the loss "
                "barely changes with " + symbol)
    return None


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
    lx, ly, w, center = _centred(x, loss, weights)
    if irreducible:
        (k, alpha, e), converged, diagnostics = _fit_floor(lx, ly, w)
    else:
        (alpha, k), e, converged, diagnostics = _line(lx, ly, w), -np.inf, True, []
    problem = _scale_or_problem(name, symbol, alpha, center + k / alpha if alpha > 0 else math.nan)
    if problem:
        return FitResult.failed(name, problem, keys, len(x))
    params = {keys[0]: float(alpha), keys[1]: float(math.exp(center + k / alpha))}
    if irreducible:
        params["L_inf"] = float(math.exp(e))

    def predict(xs):
        return power_law_value(xs, params[keys[0]], params[keys[1]], params.get("L_inf", 0.0))

    message = "converged" if converged else f"{name}: optimiser did not report convergence"
    diagnostics += dof_diagnostics(len(np.unique(x)), len(keys))
    objective = float(np.sum(w * (np.log(predict(x)) - ly) ** 2))  # weighted sum of squared log residuals
    return FitResult(name, params, converged, message, r2_log=r2_log(loss, predict(x)), n_points=len(x),
                     diagnostics=diagnostics, objective=objective, predict=predict, extra={"x": x, "loss": loss})


def _power_law_refits(x: np.ndarray, loss: np.ndarray, counts: np.ndarray, symbol: str,
                      irreducible: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """fit_aggregated on every resample of the runs (x, loss): a row of `counts` says how often each run is in
    it. Lines are fitted one by one; the L∞ fits of all resamples, each from its own starts, at once."""
    keys = [f"alpha_{symbol}", f"{symbol}_c"] + (["L_inf"] if irreducible else [])
    samples = {key: np.full(len(counts), np.nan) for key in keys}
    prepared = []
    for i, c in enumerate(counts):
        table = aggregate_arrays(np.repeat(x, c), np.repeat(loss, c))
        if check_points(symbol, table[0], table[1]) is None:
            prepared.append((i, _centred(table[0], table[1], table[4])))
    if irreducible and prepared:
        batch = _floor_minimise([p[:3] for _, p in prepared])
        per_set = len(FLOOR_START_FRACTIONS)
        best = np.argmin(batch.fun.reshape(-1, per_set), axis=1) + per_set * np.arange(len(prepared))
        fitted = [(batch.x[j, 1], batch.x[j, 0], batch.x[j, 2], batch.converged[j]) for j in best]
    else:
        fitted = [(*_line(*p[:3]), -np.inf, True) for _, p in prepared]
    ok = np.zeros(len(counts), bool)
    for (i, (_, _, _, center)), (alpha, k, e, converged) in zip(prepared, fitted):
        if converged and _scale_or_problem("", symbol, alpha, center + k / alpha if alpha > 0 else math.nan) is None:
            samples[keys[0]][i], samples[keys[1]][i] = alpha, math.exp(center + k / alpha)
            if irreducible:
                samples["L_inf"][i] = math.exp(e)
            ok[i] = True
    return samples, ok


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

    def refit(counts):
        return _power_law_refits(chosen[x_col].to_numpy(float), chosen[loss_col].to_numpy(float), counts, symbol,
                                 irreducible)

    result = attach_batch_bootstrap(fit(chosen), refit, chosen, n_boot, seed)
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
