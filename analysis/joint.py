"""Kaplan 2020 eq. 1.5: L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D, fitted on final losses of runs."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from analysis.batchfit import BatchResult, least_squares_terms, minimize_batch, padded
from analysis.bootstrap import attach_batch_bootstrap
from analysis.result import MIN_DISTINCT_X, FitResult, batch_best, check_points, dof_diagnostics, r2_log

KAPLAN_ND_KEYS = ["alpha_N", "alpha_D", "N_c", "D_c"]
EXPONENT_STARTS = (0.05, 0.1, 0.2, 0.4)  # init grid for α_N and α_D (Kaplan 2020 finds 0.076, 0.103)
EXPONENT_BOUNDS = (1e-4, 5.0)  # α_N and α_D positive (eq. 1.5 divides by α_D) and far above Kaplan's 0.076, 0.103


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


def _kaplan_terms(theta, ln_n, ln_d, ln_l, weight, derivatives=True):
    """Per problem: ½ Σ w r² of the log residuals r of eq. 1.5, and with `derivatives` its gradient and the
    Gauss–Newton Hessian from the analytic Jacobian ∂r/∂θ."""
    alpha_n, alpha_d, ln_nc, ln_dc = (theta[:, [i]] for i in range(4))
    z1, z2 = alpha_n / alpha_d * (ln_nc - ln_n), ln_dc - ln_d
    lse = np.logaddexp(z1, z2)
    r = alpha_d * lse - ln_l
    if not derivatives:
        return 0.5 * np.sum(weight * r * r, axis=1)
    q1, q2 = np.exp(z1 - lse), np.exp(z2 - lse)  # the shares of the two terms
    jac = np.stack([q1 * (ln_nc - ln_n), lse - q1 * z1, alpha_n * q1, alpha_d * q2], axis=-1)
    return least_squares_terms(r, jac, weight)


def _minimise(ln_n, ln_d, ln_l, weight, starts, data_of) -> BatchResult:
    """Gauss–Newton steps from each start on its row data_of[i] of the data, exponents within EXPONENT_BOUNDS."""
    def evaluate(theta, rows, derivatives):
        k = data_of[rows]
        return _kaplan_terms(theta, ln_n[k], ln_d[k], ln_l[k], weight[k], derivatives)

    low, high = EXPONENT_BOUNDS
    return minimize_batch(evaluate, starts, [low, low, -np.inf, -np.inf], [high, high, np.inf, np.inf])


def fit_kaplan_nd_arrays(n, d, loss, starts=None) -> FitResult:
    """Least squares on log loss of eq. 1.5 from an init grid (or the given starts), best kept; the objective
    is the sum of squared log residuals."""
    return fit_kaplan_nd_sets([(n, d, loss)], starts)[0]


def fit_sets(name: str, keys: list, sets: list[tuple], starts_of: Callable, minimise: Callable,
             result_of: Callable) -> list[FitResult]:
    """A joint L(N, D) form fitted on each (N, D, loss) of `sets`, the starts of all of them minimised in one
    batch: starts_of(ln N, ln D, ln L) gives a set's starts, minimise(ln N, ln D, ln L, weight, starts, set of
    each start) the batch's BatchResult, result_of(name, n, d, loss, starts, x, fun, converged, n_iter) a set's
    FitResult. A set that check_joint refuses gets a failed result saying why."""
    sets = [tuple(np.asarray(v, float) for v in s) for s in sets]
    results = [FitResult.failed(name, problem, keys, len(s[2])) if problem else None
               for s, problem in ((s, check_joint(name, *s)) for s in sets)]
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results
    logs = [tuple(np.log(v) for v in sets[i]) for i in todo]
    set_starts = [starts_of(*ln) for ln in logs]
    ln_n, ln_d, ln_l, weight = padded(logs)
    data_of = np.repeat(np.arange(len(todo)), [len(s) for s in set_starts])
    batch = minimise(ln_n, ln_d, ln_l, weight, np.concatenate(set_starts), data_of)
    for k, i in enumerate(todo):
        mine = data_of == k
        results[i] = result_of(name, *sets[i], set_starts[k], *(a[mine] for a in (
            batch.x, batch.fun, batch.converged, batch.n_iter)))
    return results


def fit_kaplan_nd_sets(sets: list[tuple], starts=None) -> list[FitResult]:
    """fit_kaplan_nd_arrays on each (N, D, loss) of `sets`, the starts of all of them minimised in one batch
    (each set padded to the longest, so give sets of similar sizes)."""
    def starts_of(*logs):
        return np.array(list(_grid_starts(*logs))) if starts is None else np.atleast_2d(starts)

    return fit_sets("L(N,D) Kaplan eq. 1.5", KAPLAN_ND_KEYS, sets, starts_of, _minimise, _result)


def _result(name, n, d, loss, starts, x, fun, converged, n_iter) -> FitResult:
    """The FitResult of one set's minimised starts: the best kept, with the multi-start notes."""
    best, diagnostics = batch_best(starts, x, fun, exponent_slice=slice(0, 2))
    theta = x[best]
    params = dict(zip(KAPLAN_ND_KEYS, [theta[0], theta[1], math.exp(theta[2]), math.exp(theta[3])]))

    def predict(n_new, d_new):
        return np.exp(kaplan_nd_log_loss(theta, np.log(n_new), np.log(d_new)))

    ok = bool(converged[best])
    message = "converged" if ok else f"{name}: no convergence in {n_iter[best]} Gauss–Newton steps"
    diagnostics += dof_diagnostics(len(loss), len(theta))
    return FitResult(name, {k: float(v) for k, v in params.items()}, ok, message,
                     r2_log=r2_log(loss, predict(n, d)), n_points=len(loss), diagnostics=diagnostics,
                     objective=2 * float(fun[best]), predict=predict, extra={"theta": theta})


def resample_problems(n, d, loss, counts, theta) -> tuple[np.ndarray, ...]:
    """One problem per resample (a row of `counts`: how often each point is in it), for a joint form's
    minimiser: (ln N, ln D, ln L, weight) a row per resample, the weight being the counts, every start the
    full-data optimum θ, and the problems' data rows (each its own)."""
    weight = np.asarray(counts, float)
    ln_n, ln_d, ln_l = (np.broadcast_to(np.log(np.asarray(v, float)), weight.shape) for v in (n, d, loss))
    return ln_n, ln_d, ln_l, weight, np.repeat(np.atleast_2d(theta), len(weight), axis=0), np.arange(len(weight))


def kaplan_nd_refits(n, d, loss, counts, theta) -> tuple[dict, np.ndarray]:
    """Eq. 1.5 on each resample (a row of `counts`: how often each point is in it), every one from θ (the
    full-data optimum): parameter samples and which refits converged."""
    batch = _minimise(*resample_problems(n, d, loss, counts, theta))
    with np.errstate(over="ignore"):
        samples = dict(zip(KAPLAN_ND_KEYS, [batch.x[:, 0], batch.x[:, 1], np.exp(batch.x[:, 2]),
                                            np.exp(batch.x[:, 3])]))
    return samples, batch.converged


def fit_kaplan_nd(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", n_boot: int = 100,
                  seed: int = 0) -> FitResult:
    """L(N, D) of Kaplan 2020 eq. 1.5 over completed runs, with bootstrap intervals."""
    return fit_joint_with_bootstrap(fit_kaplan_nd_arrays, kaplan_nd_refits, runs, loss_col, n_boot, seed)


def _distinct_drawn(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per resample (a row of counts), how many distinct values it holds."""
    _, codes = np.unique(values, return_inverse=True)
    present = np.zeros((len(counts), codes.max() + 1), bool)
    rows, cols = np.nonzero(counts)
    present[rows, codes.ravel()[cols]] = True
    return present.sum(axis=1)


def fit_joint_with_bootstrap(fit_arrays: Callable[..., FitResult], refits: Callable, runs: pd.DataFrame,
                             loss_col: str, n_boot: int, seed: int) -> FitResult:
    """fit_arrays(N, D, loss) on completed runs, and bootstrap intervals from refits(N, D, loss, counts, θ),
    which refits every resample from the full-data optimum θ = result.extra['theta'] at once; a resample
    with fewer than MIN_DISTINCT_X distinct N or D is a failed refit, as fit_arrays would say."""
    arrays = joint_arrays(runs, loss_col)
    result = fit_arrays(*arrays)
    if not result.ok:
        return result
    completed = (runs["status"] == "completed").to_numpy() if "status" in runs else np.ones(len(runs), bool)

    def refit(counts):
        counts = counts[:, completed]
        enough = (_distinct_drawn(arrays[0], counts) >= MIN_DISTINCT_X) & (
            _distinct_drawn(arrays[1], counts) >= MIN_DISTINCT_X)
        samples = {k: np.full(len(counts), np.nan) for k in result.params}
        ok = np.zeros(len(counts), bool)
        if enough.any():
            drawn, ok[enough] = refits(*arrays, counts[enough], result.extra["theta"])
            for key, values in drawn.items():
                samples[key][enough] = values
        return samples, ok

    return attach_batch_bootstrap(result, refit, runs, n_boot, seed)
