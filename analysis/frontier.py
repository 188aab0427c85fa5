"""Compute-efficient frontier L(C_min) = (C_c/C_min)^α_C (Kaplan 2020 eq. 1.3) from the lower envelope of all
learning curves, and N_opt(C) ∝ C^a with N_opt found at each compute value by interpolating the loss across
model sizes (Porian et al. 2024), not as the size of the run that owns the envelope there."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_batch_bootstrap, one_by_one
from analysis.branches import curve_segments, shared_trunk_rows
from analysis.data import check_convention
from analysis.optimum import local_minima_arrays
from analysis.powerlaw import fit_power_law
from analysis.result import MIN_DISTINCT_X, FitResult, r2_log

FRONTIER_KEYS = ["alpha_C", "C_c", "a_Nopt"]
ENVELOPE_POINTS = 80  # log-spaced compute values at which the lower envelope is evaluated
COVER_RTOL = 1e-9  # a curve covers a compute value within float rounding of its own ends


def compute_column(convention: str) -> str:
    """'compute_<key>' for a convention key ('6n') or a column name ('compute_6n')."""
    return f"compute_{check_convention(convention.removeprefix('compute_'))}"


def _usable_rows(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Curve rows of completed runs with a finite positive test loss and positive compute, with their
    positions in `curves` (column `_row`)."""
    keep = np.isfinite(curves["test_loss"]) & (curves["test_loss"] > 0) & (curves[column] > 0)
    if "status" in curves:
        keep &= curves["status"] == "completed"
    return curves[keep].assign(_row=np.flatnonzero(keep.to_numpy()))


def usable_curves(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Curve points of completed runs with a finite positive test loss and positive compute (the frontier's
    input, and what Figure 1's compute panel draws), a trunk's rows shared by its branches kept once
    (branches.curve_segments; column `segment`)."""
    segments = curve_segments(_usable_rows(curves, column))
    return segments[["run_id", column, "test_loss", "params_non_embedding", "segment"]].reset_index(drop=True)


@dataclass
class CurveTable:
    """The usable points (usable_curves) as arrays, and which rows of the curves frame each point stands for:
    a run's or a branch's own point for its own row, a trunk's shared point for that row of every branch."""

    segment: np.ndarray
    """Per point: its curve (index into `names` and `sizes`), in the order of usable_curves' run_id."""
    compute: np.ndarray
    log_compute: np.ndarray
    log_loss: np.ndarray
    names: np.ndarray
    """Per curve: its run_id ('trunk:<trunk_id>' for a trunk's shared part)."""
    sizes: np.ndarray
    """Per curve: its N."""
    pairs: tuple[np.ndarray, np.ndarray]
    """(point, row of the curves frame) for every row a point stands for."""

    def points_of(self, drawn_rows: np.ndarray) -> np.ndarray:
        """Mask of the points that some drawn row (a mask over the curves frame's rows) stands behind. Where a
        trunk's branches disagree on a shared row (branches.shared_rows_differ), the point keeps the first
        branch's value, whichever branches were drawn."""
        points = np.zeros(len(self.segment), bool)
        points[self.pairs[0][drawn_rows[self.pairs[1]]]] = True
        return points


def curve_table(curves: pd.DataFrame, column: str) -> CurveTable:
    """The CurveTable of `curves` under the compute column `column` (read once; every refit reads arrays)."""
    rows = _usable_rows(curves, column)
    segments = curve_segments(rows)
    codes, names = pd.factorize(segments["run_id"])
    sizes = np.zeros(len(names))
    sizes[codes] = segments["params_non_embedding"].to_numpy(float)
    own = (segments["segment"] != "trunk").to_numpy()
    point, source = np.flatnonzero(own), segments["_row"].to_numpy()[own]
    if not own.all():  # a trunk's point stands for the same row of each branch that shares it
        trunk = segments.loc[~own, ["trunk_id", "tokens"]].assign(_point=np.flatnonzero(~own))
        shared = trunk.merge(shared_trunk_rows(rows)[["trunk_id", "tokens", "_row"]], on=["trunk_id", "tokens"])
        point, source = np.r_[point, shared["_point"].to_numpy()], np.r_[source, shared["_row"].to_numpy()]
    compute = segments[column].to_numpy(float)
    return CurveTable(codes, compute, np.log(compute), np.log(segments["test_loss"].to_numpy(float)),
                      np.asarray(names), sizes, (point, source))


def interpolate_groups(keys: np.ndarray, log_x: np.ndarray, log_y: np.ndarray,
                       grid: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct key (sorted), log_y interpolated linearly in log_x at `grid`, inf outside the key's own
    [min - margin, max + margin]; returns (keys, matrix keys x grid). numpy only: this runs in every bootstrap."""
    order = np.lexsort((log_x, keys))
    keys, log_x, log_y = keys[order], log_x[order], log_y[order]
    distinct, starts = np.unique(keys, return_index=True)
    rows = []
    for lx, ly in zip(np.split(log_x, starts[1:]), np.split(log_y, starts[1:])):
        inside = (grid >= lx[0] - margin) & (grid <= lx[-1] + margin)
        rows.append(np.where(inside, np.interp(grid, lx, ly), np.inf))
    return distinct, np.vstack(rows)


def _envelope(table: CurveTable, points: np.ndarray, n_points: int, method: str) -> dict:
    """Lower envelope of the curves through `points`: compute, loss and curve of each envelope point, and the
    log compute grid with every curve's log loss interpolated on it (curves, matrix) for the optima.

    'interp': each curve interpolated in log-log, the minimum across curves at each of n_points log-spaced
    compute values (compute gaps no curve spans are dropped); 'bins': log-spaced compute bins, the lowest
    logged loss in each."""
    if method not in ("interp", "bins"):
        raise ValueError(f"method={method!r}: expected 'interp' or 'bins'")
    log_c = table.log_compute[points]
    grid = np.linspace(log_c.min(), log_c.max(), n_points)
    curves, matrix = interpolate_groups(table.segment[points], log_c, table.log_loss[points], grid)
    if method == "interp":
        best, columns = np.argmin(matrix, axis=0), np.arange(n_points)
        covered = np.isfinite(matrix[best, columns])
        return {"compute": np.exp(grid)[covered], "loss": np.exp(matrix[best, columns])[covered],
                "curve": curves[best][covered], "grid": grid, "curves": curves, "matrix": matrix}
    edges = np.linspace(log_c.min(), log_c.max() + 1e-12, n_points + 1)
    bins, loss = np.digitize(log_c, edges), np.exp(table.log_loss[points])
    order = np.lexsort((loss, bins))  # stable: the first of equal lowest losses, as pandas' idxmin
    lowest = np.flatnonzero(points)[order[np.r_[True, bins[order][1:] != bins[order][:-1]]]]
    return {"compute": table.compute[lowest], "loss": np.exp(table.log_loss[lowest]), "curve": table.segment[lowest],
            "grid": grid, "curves": curves, "matrix": matrix}


def _bracketed(table: CurveTable, points: np.ndarray, compute: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Mask of envelope points (compute, size of the owner) whose owner beat both neighbouring model sizes at
    that very compute.

    At fixed compute the loss is unimodal in N (Kaplan 2020 fig. 2, Hoffmann 2022 fig. 3), so an owner
    that is lower than the next smaller and the next larger size of the grid is the grid's best there.
    A point is kept only when a curve of each neighbour covers its compute: where the smaller model's
    runs stopped earlier, or the larger model's curves start later, the owner won by default, and such
    points bias the frontier towards large models (and a towards 1). The smallest and largest sizes
    have a neighbour missing, so their points are never kept.
    """
    segment, c = table.segment[points], table.compute[points]
    order = np.lexsort((c, segment))
    first = np.r_[True, segment[order][1:] != segment[order][:-1]]
    last = np.r_[first[1:], True]
    curve_size, lo, hi = table.sizes[segment[order][first]], c[order][first], c[order][last]
    sizes = np.unique(curve_size)
    k = np.searchsorted(sizes, size)
    covered = (lo <= compute[:, None] * (1 + COVER_RTOL)) & (hi >= compute[:, None] * (1 - COVER_RTOL))

    def neighbour_covers(step):
        return (covered & (curve_size == sizes[np.clip(k + step, 0, len(sizes) - 1)][:, None])).any(axis=1)

    return (k > 0) & (k < len(sizes) - 1) & neighbour_covers(-1) & neighbour_covers(1)


def interpolated_optima(log_compute: np.ndarray, sizes: np.ndarray, log_loss: np.ndarray) -> pd.DataFrame:
    """N_opt and L_opt at each compute value: runs' log losses (rows, inf where a run has none) reduced to
    the lowest per model size, then a local parabola in log N around the lowest size (analysis.optimum).
    Columns compute, N_opt, L_opt, bracketed, message."""
    return pd.DataFrame(optima_arrays(log_compute, sizes, log_loss))


def optima_arrays(log_compute: np.ndarray, sizes: np.ndarray, log_loss: np.ndarray) -> dict[str, np.ndarray]:
    """interpolated_optima as a dict of arrays (no DataFrame: this runs in every refit)."""
    distinct, inverse = np.unique(sizes, return_inverse=True)
    per_size = np.full((len(distinct), log_loss.shape[1]), np.inf)
    np.minimum.at(per_size, inverse.ravel(), log_loss)
    optima = local_minima_arrays(np.log(distinct), np.where(np.isfinite(per_size), np.exp(per_size), np.nan))
    return {"compute": np.exp(log_compute), "N_opt": np.exp(optima["log_n_opt"]), "L_opt": optima["loss_opt"],
            "bracketed": optima["bracketed"], "message": optima["message"]}


def optimal_size_line(compute: np.ndarray, n_opt: np.ndarray, bracketed: np.ndarray):
    """(slope, offset, log C, log N_opt) of log N_opt on log C over the bracketed optima; None when fewer than
    MIN_DISTINCT_X are bracketed or their N_opt are all one."""
    good = np.asarray(bracketed, bool)
    if good.sum() < MIN_DISTINCT_X or len(np.unique(n_opt[good])) < 2:
        return None
    log_c, log_n = np.log(compute[good]), np.log(n_opt[good])
    slope, offset = np.polyfit(log_c, log_n, 1)
    return slope, offset, log_c, log_n


def fit_optimal_size(optima: pd.DataFrame, result: FitResult) -> None:
    """Set result.params['a_Nopt']: log N_opt regressed on log C over the bracketed interpolated optima."""
    line = optimal_size_line(*(optima[c].to_numpy() for c in ("compute", "N_opt", "bracketed")))
    if line is None:
        result.diagnostics.append(f"a_Nopt: {int(optima['bracketed'].sum())} compute values with a bracketed "
                                  f"interpolated optimum (need >= {MIN_DISTINCT_X}); not fitted")
        return
    slope, offset, log_c, log_n = line
    result.params["a_Nopt"] = float(slope)
    result.extra.setdefault("r2_log_of", {})["a_Nopt"] = r2_log(np.exp(log_n), np.exp(offset + slope * log_c))
    result.extra["optima"] = optima


def _envelope_frame(table: CurveTable, envelope: dict) -> pd.DataFrame:
    return pd.DataFrame({"compute": envelope["compute"], "loss": envelope["loss"],
                         "run_id": table.names[envelope["curve"]], "N": table.sizes[envelope["curve"]]})


def compute_envelope(curves: pd.DataFrame, compute: str = "6n", n_points: int = ENVELOPE_POINTS,
                     method: str = "interp") -> pd.DataFrame:
    """Lower envelope of all learning curves: columns compute, loss, run_id, N (the model on it)."""
    table = curve_table(curves, compute_column(compute))
    if len(table.segment) == 0:
        return pd.DataFrame(columns=["compute", "loss", "run_id", "N"])
    return _envelope_frame(table, _envelope(table, np.ones(len(table.segment), bool), n_points, method))


def _fit_frontier(table: CurveTable, points: np.ndarray, n_points: int, method: str, bracketed_only: bool,
                  frames: bool = True) -> FitResult:
    """The frontier fit on the curves through `points` of `table`; with `frames`, the envelope, the fitted
    points and the optima as DataFrames in `extra` (a bootstrap refit needs only the parameters)."""
    n_sizes = len(np.unique(table.sizes[np.unique(table.segment[points])]))
    if n_sizes < MIN_DISTINCT_X:
        return FitResult.failed("L(C_min)", f"L(C_min): {n_sizes} model sizes with a usable curve "
                                            f"(need >= {MIN_DISTINCT_X} for a compute frontier)", FRONTIER_KEYS)
    envelope = _envelope(table, points, n_points, method)
    size = table.sizes[envelope["curve"]]
    fitted, notes = np.ones(len(size), bool), ["fit on the whole envelope (bracketed_only=False)"]
    if bracketed_only:
        keep = _bracketed(table, points, envelope["compute"], size)
        if keep.sum() >= MIN_DISTINCT_X and len(np.unique(size[keep])) >= 2:
            fitted = keep
            notes = [f"fit on {int(keep.sum())} of {len(size)} envelope points: those whose owner beat the "
                     "next smaller and larger model sizes at the same compute"]
        else:
            notes = [f"FRONTIER NOT BRACKETED: only {int(keep.sum())} of {len(size)} envelope points have curves "
                     "of both neighbouring model sizes at their compute, so the fit uses the whole envelope, where "
                     "models win because their neighbours' runs stopped or had not started: α_C is biased "
                     "(train the smaller models longer)"]
    loss_fit = fit_power_law(envelope["compute"][fitted], envelope["loss"][fitted], symbol="C", name="L(C_min)")
    result = FitResult("L(C_min)", {**loss_fit.params, "a_Nopt": np.nan}, loss_fit.converged, loss_fit.message,
                       r2_log=loss_fit.r2_log, n_points=int(fitted.sum()), diagnostics=notes + loss_fit.diagnostics,
                       objective=loss_fit.objective, predict=loss_fit.predict)
    optima = optima_arrays(envelope["grid"], table.sizes[envelope["curves"]], envelope["matrix"])
    if not frames:
        line = optimal_size_line(optima["compute"], optima["N_opt"], optima["bracketed"])
        result.params["a_Nopt"] = float(line[0]) if line else np.nan
        return result
    frame = _envelope_frame(table, envelope)
    result.extra.update(envelope=frame, fitted=frame[fitted])
    fit_optimal_size(pd.DataFrame(optima), result)
    return result


def fit_compute_frontier(curves: pd.DataFrame, *, compute: str = "6n", n_points: int = ENVELOPE_POINTS,
                         method: str = "interp", bracketed_only: bool = True, n_boot: int = 200,
                         seed: int = 0) -> FitResult:
    """Kaplan's frontier: the envelope of all learning curves under a compute convention and its power law;
    the N_opt exponent a_Nopt from the loss interpolated across model sizes at each compute value
    (interpolated_optima). Mid-run points of cosine runs are not fully decayed: where runs have final
    points at several budgets, frontier_final.fit_final_frontier is the unbiased estimate.

    With `bracketed_only`, only envelope points whose owner beat both neighbouring model sizes at that
    compute are fitted for α_C (see _bracketed); the diagnostics say how many, or that none could be.
    """
    table = curve_table(curves, compute_column(compute))
    result = _fit_frontier(table, np.ones(len(table.segment), bool), n_points, method, bracketed_only)
    result.extra["compute"] = compute_column(compute)

    def refit(counts):  # a resample's fit depends only on which runs it drew: a duplicate adds no curve
        return _fit_frontier(table, table.points_of(counts > 0), n_points, method, bracketed_only, frames=False)

    return attach_batch_bootstrap(result, one_by_one(refit, FRONTIER_KEYS), curves, n_boot, seed, unit="run_id")
