"""The loss-minimising model size at one compute value, from a parabola through the sizes nearest the lowest.

Shared by the IsoFLOP profiles (one column per budget) and the interpolated frontier (one column per
compute value). A loss profile at fixed compute is a parabola in log N only near its minimum (a Taylor
expansion; Hoffmann 2022 approach 2 fits one parabola to the whole profile, which is biased when the sizes
span two or three decades, because the profile is asymmetric there). So only the LOCAL_SIZES sizes nearest
the lowest point in log N are fitted; see docs/analysis.md.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Each local parabola is fitted to the sizes within LOCAL_HALF_WIDTH_DECADES of the lowest point in log10 N,
# and never to fewer than its MIN_LOCAL_SIZES nearest: wide enough to average 0.5% noise over ~7 sizes of a
# 4-per-decade grid, narrow enough that the asymmetry of a 3-decade profile does not move the vertex
# (bias and spread measured in docs/analysis.md).
LOCAL_HALF_WIDTH_DECADES = 0.75
MIN_LOCAL_SIZES = 3  # a parabola has three coefficients
BUDGET_RTOL = 0.01  # budgets within 1% are one budget: float jitter must not split an IsoFLOP profile


def local_minima(log_n: np.ndarray, loss: np.ndarray, weight: np.ndarray | None = None,
                 half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> pd.DataFrame:
    """local_minima_arrays as a DataFrame, one row per column of `loss`."""
    return pd.DataFrame(local_minima_arrays(log_n, loss, weight, half_width_decades))


def local_minima_arrays(log_n: np.ndarray, loss: np.ndarray, weight: np.ndarray | None = None,
                        half_width_decades: float = LOCAL_HALF_WIDTH_DECADES) -> dict[str, np.ndarray]:
    """Per column of `loss` (sizes x compute values, NaN/inf where a size has no value): the vertex of a
    weighted parabola in log N through the covered sizes within `half_width_decades` of the lowest one
    (at least its MIN_LOCAL_SIZES nearest).

    Keys (one value per column): log_n_opt, loss_opt, bracketed (the lowest covered size has a covered size on
    each side and the vertex lies within the fitted sizes), n_sizes (covered sizes), lowest (row index of the
    lowest point), n_local (sizes fitted), c2, c1, c0 (coefficients in log N - centre, centre =
    log_n[lowest]) and message.
    """
    log_n = np.asarray(log_n, float)
    loss = np.where(np.isfinite(loss), loss, np.nan).reshape(len(log_n), -1)
    weight = np.ones(loss.shape) if weight is None else np.asarray(weight, float).reshape(len(log_n), -1)
    weight = np.broadcast_to(weight, loss.shape)
    covered = np.isfinite(loss)
    n_sizes = covered.sum(axis=0)
    cols = np.arange(loss.shape[1])
    lowest = np.argmin(np.where(covered, loss, np.inf), axis=0)
    centre = log_n[lowest]
    below = (covered & (log_n[:, None] < centre)).any(axis=0)
    above = (covered & (log_n[:, None] > centre)).any(axis=0)
    distance = np.where(covered, np.abs(log_n[:, None] - centre), np.inf)
    picks = np.argsort(distance, axis=0, kind="stable")  # (sizes, columns), nearest first
    near = distance[picks, cols]
    rank = np.arange(len(log_n))[:, None]
    inside_window = (near <= half_width_decades * np.log(10) * (1 + 1e-9)) | (rank < MIN_LOCAL_SIZES)
    w = np.where(np.isfinite(near) & inside_window, weight[picks, cols], 0.0)
    x, y = log_n[picks] - centre, np.nan_to_num(loss[picks, cols])
    coeffs = _weighted_parabolas(x, y, w, n_sizes >= MIN_LOCAL_SIZES)
    c2, c1, c0 = coeffs.T
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
    # the span of the sizes each column fitted (a column that fitted none is never 'inside')
    x_low = np.where(w > 0, x, np.inf).min(axis=0)
    x_high = np.where(w > 0, x, -np.inf).max(axis=0)
    inside = (vertex >= x_low) & (vertex <= x_high)
    bracketed = below & above & inside & (n_sizes >= MIN_LOCAL_SIZES)
    message = np.select([n_sizes < MIN_LOCAL_SIZES, ~(below & above), ~(c2 > 0), ~inside],
                        [f"fewer than {MIN_LOCAL_SIZES} sizes", "lowest point at the edge of the size grid",
                         "local parabola not convex", "vertex outside the fitted sizes"], "bracketed")
    return {"log_n_opt": centre + vertex, "loss_opt": c0 - c1**2 / (4 * c2), "bracketed": bracketed,
            "n_sizes": n_sizes, "n_local": (w > 0).sum(axis=0), "lowest": lowest,
            "c2": c2, "c1": c1, "c0": c0, "centre": centre, "message": message}


def _weighted_parabolas(x: np.ndarray, y: np.ndarray, w: np.ndarray, solvable: np.ndarray) -> np.ndarray:
    """Weighted least-squares (c2, c1, c0) per column of x, y, w (k x columns); NaN where not solvable."""
    design = np.stack([x**2, x, np.ones_like(x)], axis=-1)  # (k, columns, 3)
    normal = np.einsum("kci,kc,kcj->cij", design, w, design)
    rhs = np.einsum("kci,kc,kc->ci", design, w, y)
    out = np.full((x.shape[1], 3), np.nan)
    ok = solvable & (np.abs(np.linalg.det(normal)) > 1e-12)
    if ok.any():
        out[ok] = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
    return out


def _group_starts(ordered: np.ndarray, rtol: float) -> np.ndarray:
    """Mask of the sorted budgets that begin a group: more than `rtol` above the previous budget."""
    return np.r_[True, ordered[1:] > ordered[:-1] * (1 + rtol)]


def merged_budget_values(budget: np.ndarray, rtol: float = BUDGET_RTOL) -> np.ndarray:
    """The distinct budgets after merge_budgets, sorted (NaN left out)."""
    order = np.sort(budget[np.isfinite(budget)])
    return order[_group_starts(order, rtol)]


def merge_budgets(budget: pd.Series, rtol: float = BUDGET_RTOL) -> pd.Series:
    """Each budget replaced by the smallest budget of its group, where a group is a run of sorted budgets
    each within `rtol` of the previous one (NaN stays NaN)."""
    values = budget.astype(float)
    order = values.dropna().sort_values()
    if order.empty:
        return values
    new_group = _group_starts(order.to_numpy(), rtol)
    first = pd.Series(order.to_numpy()[np.flatnonzero(new_group)][np.cumsum(new_group) - 1], index=order.index)
    return first.reindex(values.index)
