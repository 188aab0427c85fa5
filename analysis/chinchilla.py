"""Hoffmann 2022 approach 3: L = E + A/N^α + B/D^β, fitted as in their appendix D.2."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from analysis.joint import check_joint, fit_joint_with_bootstrap
from analysis.published import CHINCHILLA_HUBER_DELTA
from analysis.result import FitResult, dof_diagnostics, floor_diagnostics, multistart_best, r2_log

CHINCHILLA_KEYS = ["E", "A", "B", "alpha", "beta", "a_from_fit", "b_from_fit"]
# Init grid of Hoffmann 2022 app. D.2: α, β ∈ {0, .5, .., 2}, e ∈ {-1, -.5, .., 1}, a, b ∈ {0, 5, .., 25}
HOFFMANN_GRID = dict(a=np.arange(0, 30, 5.0), b=np.arange(0, 30, 5.0), e=np.arange(-1, 1.5, 0.5),
                     alpha=np.arange(0, 2.5, 0.5), beta=np.arange(0, 2.5, 0.5))
DEFAULT_MAX_STARTS = 100  # L-BFGS runs from the grid points with the lowest initial objective


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of residuals r: quadratic within ±delta, linear beyond (Hoffmann 2022 app. D.2)."""
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))


def _huber_objective(theta, ln_n, ln_d, ln_l, delta):
    """Σ Huber_δ(LSE(a - α ln N, b - β ln D, e) - ln L) / δ², and its gradient in θ = (a, b, e, α, β)."""
    a, b, e, alpha, beta = theta
    u1, u2 = a - alpha * ln_n, b - beta * ln_d
    top = np.maximum(np.maximum(u1, u2), e)  # log-sum-exp written out: 6x faster than scipy.special here
    x1, x2, x3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(e - top)
    total = x1 + x2 + x3
    r = top + np.log(total) - ln_l
    value = _huber(r, delta).sum() / delta**2
    psi = np.clip(r, -delta, delta) / (delta**2 * total)
    p1, p2 = x1 * psi, x2 * psi
    return value, np.array([p1.sum(), p2.sum(), (x3 * psi).sum(), -(p1 @ ln_n), -(p2 @ ln_d)])


def _grid_starts(ln_n, ln_d, ln_l, delta, max_starts):
    """The Hoffmann grid, ordered by initial objective, cut to the best `max_starts`."""
    grid = np.array(list(itertools.product(*HOFFMANN_GRID.values())))  # columns a, b, e, alpha, beta
    terms = np.stack([grid[:, [0]] - grid[:, [3]] * ln_n, grid[:, [1]] - grid[:, [4]] * ln_d,
                      np.broadcast_to(grid[:, [2]], (len(grid), len(ln_n)))])
    r = logsumexp(terms, axis=0) - ln_l
    cost = _huber(r, delta).sum(axis=1)
    return grid[np.argsort(cost)[:max_starts]]


def _params(theta) -> dict[str, float]:
    a, b, e, alpha, beta = theta
    with np.errstate(over="ignore"):  # an optimiser that ran off gives inf, which the caller reports
        big_e, big_a, big_b = np.exp([e, a, b])
    return {"E": big_e, "A": big_a, "B": big_b, "alpha": alpha, "beta": beta,
            # Hoffmann 2022 eq. 4: N_opt ∝ C^(β/(α+β)), D_opt ∝ C^(α/(α+β))
            "a_from_fit": beta / (alpha + beta), "b_from_fit": alpha / (alpha + beta)}


def fit_chinchilla_arrays(n, d, loss, *, starts=None, max_starts: int = DEFAULT_MAX_STARTS,
                          delta: float = CHINCHILLA_HUBER_DELTA) -> FitResult:
    """Huber (δ=1e-3) on log residuals of the LSE form, L-BFGS from a grid of starts, best kept; the
    objective is Σ Huber_δ / δ² at the best start."""
    name = "L(N,D) Chinchilla"
    n, d, loss = (np.asarray(v, float) for v in (n, d, loss))
    problem = check_joint(name, n, d, loss)
    if problem:
        return FitResult.failed(name, problem, CHINCHILLA_KEYS, len(loss))
    ln_n, ln_d, ln_l = np.log(n), np.log(d), np.log(loss)
    starts = _grid_starts(ln_n, ln_d, ln_l, delta, max_starts) if starts is None else np.atleast_2d(starts)
    fits = []
    for start in starts:
        fit = minimize(_huber_objective, start, args=(ln_n, ln_d, ln_l, delta), jac=True, method="L-BFGS-B",
                       options={"maxiter": 5000, "ftol": 1e-10, "gtol": 1e-5})
        fits.append((fit.fun, fit, start))
    best, diagnostics = multistart_best(fits, exponent_slice=slice(3, 5))
    theta = best.x
    params = {k: float(v) for k, v in _params(theta).items()}
    if not all(map(math.isfinite, params.values())):
        return FitResult.failed(name, f"{name}: the best start ran off to a non-finite parameter "
                                      f"(a={theta[0]:.3g}, b={theta[1]:.3g}, e={theta[2]:.3g}): these runs cannot "
                                      "pin the five-parameter law", CHINCHILLA_KEYS, len(loss))

    def predict(n_new, d_new):
        return params["E"] + params["A"] / np.asarray(n_new) ** params["alpha"] + params["B"] / np.asarray(
            d_new) ** params["beta"]

    diagnostics += floor_diagnostics("E", params["E"], loss) + dof_diagnostics(len(loss), len(theta))
    converged = bool(best.success) and params["alpha"] > 0 and params["beta"] > 0
    message = "converged" if converged else f"{name}: {best.message}; α={theta[3]:.3g}, β={theta[4]:.3g}"
    return FitResult(name, params, converged, message, r2_log=r2_log(loss, predict(n, d)), n_points=len(loss),
                     diagnostics=diagnostics, objective=float(best.fun), predict=predict, extra={"theta": theta})


def fit_chinchilla(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", n_boot: int = 100, seed: int = 0,
                   max_starts: int = DEFAULT_MAX_STARTS) -> FitResult:
    """Chinchilla parametric fit on completed runs, with bootstrap intervals."""
    return fit_joint_with_bootstrap(functools.partial(fit_chinchilla_arrays, max_starts=max_starts), runs,
                                    loss_col, n_boot, seed)
