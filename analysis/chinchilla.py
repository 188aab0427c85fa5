"""Hoffmann 2022 approach 3: L = E + A/N^α + B/D^β, fitted as in their appendix D.2."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pandas as pd

from analysis.batchfit import MAX_ITERATIONS, BatchResult, minimize_batch
from analysis.joint import fit_joint_with_bootstrap, fit_sets, resample_problems
from analysis.published import CHINCHILLA_HUBER_DELTA
from analysis.result import FitResult, batch_best, dof_diagnostics, floor_diagnostics, r2_log

CHINCHILLA_KEYS = ["E", "A", "B", "alpha", "beta", "a_from_fit", "b_from_fit"]
# Init grid of Hoffmann 2022 app. D.2: α, β ∈ {0, .5, .., 2}, e ∈ {-1, -.5, .., 1}, a, b ∈ {0, 5, .., 25}
HOFFMANN_GRID = dict(a=np.arange(0, 30, 5.0), b=np.arange(0, 30, 5.0), e=np.arange(-1, 1.5, 0.5),
                     alpha=np.arange(0, 2.5, 0.5), beta=np.arange(0, 2.5, 0.5))
DEFAULT_MAX_STARTS = 100  # minimisations from the grid points with the lowest initial objective
# With δ = 10⁻³ and a toy sweep's ~1% noise nearly every residual lies on Huber's linear part, where Newton
# steps find the kinks slowly; each start is first minimised with these larger δ, each stage from the last
# one's end, then with δ itself. The warm-up only moves the starts: the objective minimised in the end is
# Hoffmann's. Measured (2026-12-02) on the smoke preset's 6 runs and the default-sweep-shaped synthetic folder
# (synthetic.KAPLAN_FIG1_POINTS), from the 100 best grid points: 1000 Newton steps at δ itself converged 65 and
# 91 starts, after these two stages all 100 converged within 411 steps at δ. Larger δ first (1, 0.1) is
# smoother still but led every start of the synthetic folder into a worse minimum (E -> 0, 0.3% above).
DELTA_STAGES = (0.01, 0.003)
STAGE_STEPS = 100  # Newton steps at most per warm-up stage
# A best fit with α or β above this ran off: with as few runs as parameters the loss can fall for ever as A and
# α grow together towards a step in N (or B and β in D); L-BFGS went on until exp(a) overflowed, these Newton
# steps stop once the loss no longer falls, at a finite but meaningless A. Hoffmann's init grid spans 0–2.
RUNAWAY_EXPONENT = 10.0


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of residuals r: quadratic within ±delta, linear beyond (Hoffmann 2022 app. D.2)."""
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))


def _huber_terms(theta, ln_n, ln_d, ln_l, weight, delta, derivatives=True):
    """Per problem (a row of θ, with its rows of data and weights): Σ w·Huber_δ(r) / δ² of the log residuals
    r = LSE(a - α ln N, b - β ln D, e) - ln L, and with `derivatives` its gradient and exact Hessian in θ."""
    a, b, e, alpha, beta = (theta[:, [i]] for i in range(5))
    u1, u2 = a - alpha * ln_n, b - beta * ln_d
    top = np.maximum(np.maximum(u1, u2), e)
    x1, x2, x3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(e - top)
    total = x1 + x2 + x3
    r = top + np.log(total) - ln_l
    value = np.sum(weight * _huber(r, delta), axis=1) / delta**2
    if not derivatives:
        return value
    p1, p2, p3 = x1 / total, x2 / total, x3 / total
    slope = weight * np.clip(r, -delta, delta) / delta**2  # w·Huber'(r)/δ²
    curvature = weight * (np.abs(r) <= delta) / delta**2  # w·Huber''(r)/δ²
    jac = np.stack([p1, p2, p3, -p1 * ln_n, -p2 * ln_d], axis=-1)  # ∂r/∂θ, (problems, points, 5)
    grad = np.matmul(slope[:, None, :], jac)[:, 0]
    # ∂²r/∂θ² = Σ_j p_j a_j a_jᵀ - (∂r/∂θ)(∂r/∂θ)ᵀ, a_j = ∂u_j/∂θ: the softmax curvature of the LSE
    hess = np.matmul(((curvature - slope)[..., None] * jac).transpose(0, 2, 1), jac)
    entries = ((0, 0), (3, 3), (0, 3), (1, 1), (4, 4), (1, 4), (2, 2))
    terms = np.stack([p1, p1 * ln_n**2, -p1 * ln_n, p2, p2 * ln_d**2, -p2 * ln_d, p3], axis=-1)
    for (i, j), add in zip(entries, np.matmul(slope[:, None, :], terms)[:, 0].T):
        hess[:, i, j] += add
        if i != j:
            hess[:, j, i] += add
    return value, grad, hess


def _grid_starts(ln_n, ln_d, ln_l, delta, max_starts):
    """The Hoffmann grid, ordered by initial objective, cut to the best `max_starts`."""
    grid = np.array(list(itertools.product(*HOFFMANN_GRID.values())))  # columns a, b, e, alpha, beta
    r = _log_sum_exp3(grid[:, [0]] - grid[:, [3]] * ln_n, grid[:, [1]] - grid[:, [4]] * ln_d, grid[:, [2]]) - ln_l
    cost = _huber(r, delta).sum(axis=1)
    return grid[np.argsort(cost)[:max_starts]]


def _log_sum_exp3(t0: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """log(e^t0 + e^t1 + e^t2), elementwise (broadcast), in the arithmetic of scipy.special.logsumexp over a
    stacked axis (the maxima set aside and counted, log1p of the rest), so that the grid's costs, and so the
    order of its starts, are those of that function (tests/test_analysis_fast_fits.py), in under half its time."""
    t0, t1, t2 = np.broadcast_arrays(t0, t1, t2)
    top = np.maximum(np.maximum(t0, t1), t2)
    at_top = [t == top for t in (t0, t1, t2)]
    count = at_top[0].astype(float) + at_top[1] + at_top[2]
    rest = sum(np.where(is_top, 0.0, np.exp(t - top)) for t, is_top in zip((t0, t1, t2), at_top))
    rest = np.where(rest == 0, rest, rest / count)
    return np.log1p(rest) + np.log(count) + top


def _params(theta) -> dict[str, float]:
    a, b, e, alpha, beta = theta
    with np.errstate(over="ignore"):  # an optimiser that ran off gives inf, which the caller reports
        big_e, big_a, big_b = np.exp([e, a, b])
    return {"E": big_e, "A": big_a, "B": big_b, "alpha": alpha, "beta": beta,
            # Hoffmann 2022 eq. 4: N_opt ∝ C^(β/(α+β)), D_opt ∝ C^(α/(α+β))
            "a_from_fit": beta / (alpha + beta), "b_from_fit": alpha / (alpha + beta)}


def _minimise(ln_n, ln_d, ln_l, weight, starts, delta, data_of, stages=DELTA_STAGES) -> BatchResult:
    """Newton steps from each start (a row of `starts`) on its row data_of[i] of the data (rows of ln_n, ln_d,
    ln_l, weight), first at each warm-up δ of `stages` above `delta`, each stage starting where the last ended."""
    x = starts
    for stage in [s for s in stages if s > delta] + [delta]:
        def evaluate(theta, rows, derivatives, stage=stage):
            k = data_of[rows]
            return _huber_terms(theta, ln_n[k], ln_d[k], ln_l[k], weight[k], stage, derivatives)

        result = minimize_batch(evaluate, x, max_iter=STAGE_STEPS if stage != delta else MAX_ITERATIONS)
        x = result.x
    return result


def fit_chinchilla_arrays(n, d, loss, *, starts=None, max_starts: int = DEFAULT_MAX_STARTS,
                          delta: float = CHINCHILLA_HUBER_DELTA) -> FitResult:
    """Huber (δ=1e-3) on log residuals of the LSE form, minimised from a grid of starts, best kept; the
    objective is Σ Huber_δ / δ² at the best start."""
    return fit_chinchilla_sets([(n, d, loss)], starts=starts, max_starts=max_starts, delta=delta)[0]


def fit_chinchilla_sets(sets: list[tuple], *, starts=None, max_starts: int = DEFAULT_MAX_STARTS,
                        delta: float = CHINCHILLA_HUBER_DELTA) -> list[FitResult]:
    """fit_chinchilla_arrays on each (N, D, loss) of `sets`, the starts of all of them minimised in one batch
    (each set padded to the longest, so give sets of similar sizes); `starts` for every set, or the grid's."""
    def starts_of(*logs):
        return _grid_starts(*logs, delta, max_starts) if starts is None else np.atleast_2d(starts)

    def minimise(ln_n, ln_d, ln_l, weight, all_starts, data_of):
        return _minimise(ln_n, ln_d, ln_l, weight, all_starts, delta, data_of)

    return fit_sets("L(N,D) Chinchilla", CHINCHILLA_KEYS, sets, starts_of, minimise, _result)


def _result(name, n, d, loss, starts, x, fun, converged, n_iter) -> FitResult:
    """The FitResult of one set's minimised starts: the best kept, with the multi-start notes."""
    best, diagnostics = batch_best(starts, x, fun, exponent_slice=slice(3, 5))
    theta = x[best]
    params = {k: float(v) for k, v in _params(theta).items()}
    if not all(map(math.isfinite, params.values())) or max(theta[3], theta[4]) > RUNAWAY_EXPONENT:
        return FitResult.failed(name, f"{name}: the best start ran off (a={theta[0]:.3g}, b={theta[1]:.3g}, "
                                      f"e={theta[2]:.3g}, α={theta[3]:.3g}, β={theta[4]:.3g}: a non-finite parameter "
                                      f"or an exponent above {RUNAWAY_EXPONENT:g}): these runs cannot pin the "
                                      "five-parameter law", CHINCHILLA_KEYS, len(loss))

    def predict(n_new, d_new):
        return params["E"] + params["A"] / np.asarray(n_new) ** params["alpha"] + params["B"] / np.asarray(
            d_new) ** params["beta"]

    diagnostics += floor_diagnostics("E", params["E"], loss) + dof_diagnostics(len(loss), len(theta))
    ok = bool(converged[best]) and params["alpha"] > 0 and params["beta"] > 0
    ended = "converged" if converged[best] else f"no convergence in {n_iter[best]} Newton steps"
    message = "converged" if ok else f"{name}: {ended}; α={theta[3]:.3g}, β={theta[4]:.3g}"
    return FitResult(name, params, ok, message, r2_log=r2_log(loss, predict(n, d)), n_points=len(loss),
                     diagnostics=diagnostics, objective=float(fun[best]), predict=predict,
                     extra={"theta": theta})


def chinchilla_refits(n, d, loss, counts, theta, delta: float = CHINCHILLA_HUBER_DELTA) -> tuple[dict, np.ndarray]:
    """The Chinchilla fit on each resample (a row of `counts`: how often each point is in it), every one from
    θ (the full-data optimum) at δ itself: parameter samples, and which refits converged to finite parameters
    with 0 < α, β <= RUNAWAY_EXPONENT (as fit_chinchilla_arrays would call them converged)."""
    ln_n, ln_d, ln_l, weight, starts, data_of = resample_problems(n, d, loss, counts, theta)
    batch = _minimise(ln_n, ln_d, ln_l, weight, starts, delta, data_of, stages=())
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = _params(batch.x.T)
    finite = np.all([np.isfinite(v) for v in samples.values()], axis=0)
    exponents = batch.x[:, 3:5]
    sensible = (exponents > 0).all(axis=1) & (exponents <= RUNAWAY_EXPONENT).all(axis=1)
    return samples, batch.converged & finite & sensible


def fit_chinchilla(runs: pd.DataFrame, *, loss_col: str = "final_test_loss", n_boot: int = 100, seed: int = 0,
                   max_starts: int = DEFAULT_MAX_STARTS) -> FitResult:
    """Chinchilla parametric fit on completed runs, with bootstrap intervals."""
    return fit_joint_with_bootstrap(functools.partial(fit_chinchilla_arrays, max_starts=max_starts),
                                    chinchilla_refits, runs, loss_col, n_boot, seed)
