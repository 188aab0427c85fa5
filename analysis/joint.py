"""Kaplan 2020 eq. 1.5: L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D, fitted on final losses of runs."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from analysis.bootstrap import attach_bootstrap
from analysis.result import FitResult, check_points, dof_diagnostics, multistart_best, r2_log

KAPLAN_ND_KEYS = ["alpha_N", "alpha_D", "N_c", "D_c"]
EXPONENT_STARTS = (0.05, 0.1, 0.2, 0.4)  # init grid for α_N and α_D (Kaplan 2020 finds 0.076, 0.103)


def joint_arrays(runs: pd.DataFrame, loss_col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) of completed runs: non-embedding parameters, tokens, the chosen loss column."""
    usable = runs[runs["status"] == "completed"] if "status" in runs else runs
    return (usable["params_non_embedding"].to_numpy(float), usable["tokens"].to_numpy(float),
            usable[loss_col].to_numpy(float))


def check_joint(name: str, n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> str | None:
    """Why (N, D, loss) cannot support a two-variable fit, or None."""
    return check_points(f"{name} in N", n, loss) or check_points(f"{name} in D", d, loss)


def kaplan_nd_log_loss(theta: np.ndarray, ln_n: np.ndarray, ln_d: np.ndarray) -> np.ndarray:
    """log L of eq. 1.5 for θ = (α_N, α_D, ln N_c, ln D_c)."""
    alpha_n, alpha_d, ln_nc, ln_dc = theta
    return alpha_d * np.logaddexp(alpha_n / alpha_d * (ln_nc - ln_n), ln_dc - ln_d)


def _grid_starts(ln_n, ln_d, ln_l):
    """Init grid: exponents from EXPONENT_STARTS, scales making each term alone match the median loss."""
    for alpha_n in EXPONENT_STARTS:
        for alpha_d in EXPONENT_STARTS:
            yield np.array([alpha_n, alpha_d, np.median(ln_n) + np.median(ln_l) / alpha_n,
                            np.median(ln_d) + np.median(ln_l) / alpha_d])


def fit_kaplan_nd_arrays(n, d, loss, starts=None) -> FitResult:
    """Least squares on log loss of eq. 1.5 from an init grid (or the given starts), best kept; the objective
    is the sum of squared log residuals."""
    name = "L(N,D) Kaplan eq. 1.5"
    problem = check_joint(name, n, d, loss)
    if problem:
        return FitResult.failed(name, problem, KAPLAN_ND_KEYS, len(loss))
    ln_n, ln_d, ln_l = np.log(n), np.log(d), np.log(loss)
    fits = []
    for start in _grid_starts(ln_n, ln_d, ln_l) if starts is None else np.atleast_2d(starts):
        fit = least_squares(lambda t: kaplan_nd_log_loss(t, ln_n, ln_d) - ln_l, start, method="trf",
                            bounds=([1e-4, 1e-4, -np.inf, -np.inf], [5, 5, np.inf, np.inf]), x_scale="jac")
        fits.append((fit.cost, fit, start))
    best, diagnostics = multistart_best(fits, exponent_slice=slice(0, 2))
    theta = best.x
    params = dict(zip(KAPLAN_ND_KEYS, [theta[0], theta[1], math.exp(theta[2]), math.exp(theta[3])]))

    def predict(n_new, d_new):
        return np.exp(kaplan_nd_log_loss(theta, np.log(n_new), np.log(d_new)))

    message = "converged" if best.success else f"{name}: {best.message}"
    diagnostics += dof_diagnostics(len(loss), len(theta))
    return FitResult(name, {k: float(v) for k, v in params.items()}, bool(best.success), message,
                     r2_log=r2_log(loss, predict(n, d)), n_points=len(loss), diagnostics=diagnostics,
                     objective=2 * float(best.cost), predict=predict, extra={"theta": theta})


def fit_kaplan_nd(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", n_boot: int = 100,
                  seed: int = 0) -> FitResult:
    """L(N, D) of Kaplan 2020 eq. 1.5 over completed runs, with bootstrap intervals."""
    return fit_joint_with_bootstrap(fit_kaplan_nd_arrays, runs, loss_col, n_boot, seed)


def fit_joint_with_bootstrap(fit_arrays: Callable[..., FitResult], runs: pd.DataFrame, loss_col: str,
                             n_boot: int, seed: int) -> FitResult:
    """fit_arrays(N, D, loss) on completed runs; bootstrap refits start from the full-data optimum
    (fit_arrays(..., starts=result.extra['theta']))."""
    result = fit_arrays(*joint_arrays(runs, loss_col))
    if not result.ok:
        return result

    def refit(frame):
        return fit_arrays(*joint_arrays(frame, loss_col), starts=result.extra["theta"])

    return attach_bootstrap(result, refit, runs, n_boot, seed)
