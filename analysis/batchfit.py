"""Many small minimisations at once: a damped Newton (Levenberg–Marquardt) step for every problem of a batch
per numpy call, so that a multi-start fit's starts and a bootstrap's refits cost about as much as one fit.

Each problem has a few parameters (3 to 5) and from a few to a few thousand points. `minimize_batch` takes an
`evaluate` that returns the objective, its gradient and its Hessian for any subset of the problems; the
least-squares models give the Gauss–Newton Hessian JᵀWJ (`least_squares_terms`), the Huber fit its exact
Hessian. Box bounds are kept by projection: a parameter at a bound whose gradient points outwards is held
there for the step, and every trial point is clipped into the box (projected Newton, Bertsekas 1982).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

INITIAL_DAMPING = 1e-3  # λ of the first step, relative to diag(H) (Marquardt scaling)
DAMPING_DOWN, DAMPING_UP = 1 / 3, 8.0  # λ after an accepted and after a rejected step
MAX_DAMPING = 1e14  # no step of any length lowers f: the point is a minimum to machine precision
# A step that lowers f by less than this fraction of f ends the problem. Tighter than the scipy fits these
# replaced (L-BFGS-B's 1e-10, least_squares' 1e-8), for a few steps more: Kaplan's eq. 1.5 on the synthetic
# folder of analysis.synthetic then lies within 10⁻¹⁰ of least_squares run to 1e-15, where least_squares at
# its defaults was 2·10⁻⁶ away (2026-12-02). Only a step with damping at most NEAR_NEWTON_DAMPING counts,
# so that a step cut short by a large λ far from the minimum does not.
RELATIVE_FTOL = 1e-12
NEAR_NEWTON_DAMPING = 1.0
MAX_ITERATIONS = 1000  # Newton steps per problem; a problem still improving after them is not converged
DIAG_FLOOR = 1e-12  # diag(H) entries below this fraction of the largest are raised to it (flat directions)


@dataclass
class BatchResult:
    """The end of every problem of a batch: parameters (problems x p), objective, converged, steps taken."""

    x: np.ndarray
    fun: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


Evaluate = Callable[[np.ndarray, np.ndarray, bool], tuple]
"""evaluate(x (m, p), rows (m,), derivatives) -> f (m,), and with derivatives also g (m, p) and H (m, p, p):
the objective of problems `rows` at parameters x."""


def least_squares_terms(residual: np.ndarray, jacobian: np.ndarray, weight: np.ndarray) -> tuple:
    """(f, g, H) of f = ½ Σ w r² from residuals (m, n), their Jacobian (m, n, p) and weights (m, n), with the
    Gauss–Newton Hessian JᵀWJ."""
    wr = weight * residual
    return (0.5 * np.sum(wr * residual, axis=1), np.matmul(wr[:, None, :], jacobian)[:, 0],
            np.matmul((weight[..., None] * jacobian).transpose(0, 2, 1), jacobian))


def padded(sets: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Point sets of different sizes as the rows of equal arrays: per array of the sets one (sets, longest set)
    array, zero-padded, and last a weight array, 1 at points and 0 at padding, so padding adds nothing."""
    longest = max(len(s[0]) for s in sets)
    out = [np.zeros((len(sets), longest)) for _ in range(len(sets[0]) + 1)]
    for i, arrays in enumerate(sets):
        for row, values in zip(out, arrays):
            row[i, :len(values)] = values
        out[-1][i, :len(arrays[0])] = 1.0
    return tuple(out)


def _free(x, g, lower, upper) -> np.ndarray:
    """Parameters not held at a bound: those inside the box, or at a bound with the gradient pointing inwards."""
    return ~(((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0)))


def _steps(g, hess, free, damping) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton steps on the free parameters, and which problems have one that points downhill (an
    indefinite H + λD can give a step that does not; the caller then raises λ)."""
    scale = np.abs(np.diagonal(hess, axis1=1, axis2=2))
    scale = np.maximum(scale, DIAG_FLOOR * scale.max(axis=1, keepdims=True) + np.finfo(float).tiny)
    # a held parameter's row and column become the identity's, so its step is 0
    a = np.where(free[:, :, None] & free[:, None, :], hess, 0.0)
    a += np.where(free, damping[:, None] * scale, 1.0)[:, :, None] * np.eye(g.shape[1])
    rhs = np.where(free, -g, 0.0)
    try:
        step = np.linalg.solve(a, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # an exactly singular system somewhere in the batch: least-norm steps
        step = np.einsum("mpq,mq->mp", np.linalg.pinv(a), rhs)
    downhill = np.isfinite(step).all(axis=1) & (np.einsum("mp,mp->m", step, rhs) > 0)
    return np.where(downhill[:, None], step, 0.0), downhill


def minimize_batch(evaluate: Evaluate, x0: np.ndarray, lower=-np.inf, upper=np.inf, *,
                   max_iter: int = MAX_ITERATIONS, ftol: float = RELATIVE_FTOL) -> BatchResult:
    """Minimise every problem of a batch from its start x0[i] within [lower, upper] (broadcast to x0).

    A problem ends converged when a near-Newton step (λ at most NEAR_NEWTON_DAMPING) lowers f by less than
    `ftol` of f, when its projected gradient is exactly zero, or when no step lowers f any more (λ beyond
    MAX_DAMPING); a problem still improving after `max_iter` steps, or whose objective is not finite at its
    start, ends not converged.
    """
    x = np.array(x0, float, ndmin=2)
    lower, upper = np.broadcast_to(lower, x.shape).astype(float), np.broadcast_to(upper, x.shape).astype(float)
    x = np.clip(x, lower, upper)
    everyone = np.arange(len(x))
    f, g, hess = (np.array(a, float) for a in evaluate(x, everyone, True))  # copies: updated row by row below
    damping = np.full(len(x), INITIAL_DAMPING)
    converged, n_iter = np.zeros(len(x), bool), np.zeros(len(x), int)
    active = np.isfinite(f) & np.isfinite(g).all(axis=1)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        free = _free(x[rows], g[rows], lower[rows], upper[rows])
        stationary = ~np.where(free, g[rows], 0.0).any(axis=1)
        step, has_step = _steps(g[rows], hess[rows], free, damping[rows])
        trial = np.clip(x[rows] + step, lower[rows], upper[rows])
        f_trial = evaluate(trial, rows, False)
        better = has_step & np.isfinite(f_trial) & (f_trial < f[rows]) & ~stationary
        small = better & (damping[rows] <= NEAR_NEWTON_DAMPING) & (f[rows] - f_trial <= ftol * np.abs(f_trial))
        n_iter[rows] += 1
        moved = rows[better]
        if len(moved):
            x[moved] = trial[better]
            f[moved], g[moved], hess[moved] = evaluate(x[moved], moved, True)
        damping[rows] = np.where(better, damping[rows] * DAMPING_DOWN, damping[rows] * DAMPING_UP)
        done = small | stationary | (damping[rows] > MAX_DAMPING)
        converged[rows[done]] = True
        active[rows[done]] = False
    return BatchResult(x, f, converged, n_iter)
