"""Compute-efficient frontier L(C_min) = (C_c/C_min)^α_C (Kaplan 2020 eq. 1.3) from the lower envelope of all
learning curves, and N_opt(C) ∝ C^a with N_opt found at each compute value by interpolating the loss across
model sizes (Porian et al. 2024), not as the size of the run that owns the envelope there."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import attach_bootstrap
from analysis.branches import curve_segments
from analysis.data import check_convention
from analysis.optimum import local_minima
from analysis.powerlaw import fit_power_law
from analysis.result import MIN_DISTINCT_X, FitResult, r2_log

FRONTIER_KEYS = ["alpha_C", "C_c", "a_Nopt"]
ENVELOPE_POINTS = 80  # log-spaced compute values at which the lower envelope is evaluated
COVER_RTOL = 1e-9  # a curve covers a compute value within float rounding of its own ends


def compute_column(convention: str) -> str:
    """'compute_<key>' for a convention key ('6n') or a column name ('compute_6n')."""
    return f"compute_{check_convention(convention.removeprefix('compute_'))}"


def usable_curves(curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Curve points of completed runs with a finite positive test loss and positive compute (the frontier's
    input, and what Figure 1's compute panel draws), a trunk's rows shared by its branches kept once
    (branches.curve_segments; column `segment`)."""
    keep = np.isfinite(curves["test_loss"]) & (curves["test_loss"] > 0) & (curves[column] > 0)
    if "status" in curves:
        keep &= curves["status"] == "completed"
    segments = curve_segments(curves[keep])
    return segments[["run_id", column, "test_loss", "params_non_embedding", "segment"]].reset_index(drop=True)


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


def _curve_matrix(usable: pd.DataFrame, column: str, grid: np.ndarray) -> tuple[np.ndarray, list, np.ndarray]:
    """Log loss of each curve interpolated in log-log at log compute `grid` (inf outside the curve),
    with the run ids and sizes of the rows."""
    codes, runs = pd.factorize(usable["run_id"])
    _, matrix = interpolate_groups(codes, np.log(usable[column].to_numpy(float)),
                                   np.log(usable["test_loss"].to_numpy(float)), grid)
    sizes = np.zeros(len(runs))
    sizes[codes] = usable["params_non_embedding"].to_numpy(float)
    return matrix, list(runs), sizes


def _log_grid(usable: pd.DataFrame, column: str, n_points: int) -> np.ndarray:
    return np.linspace(np.log(usable[column].min()), np.log(usable[column].max()), n_points)


def _envelope_interp(usable: pd.DataFrame, column: str, n_points: int) -> pd.DataFrame:
    """Exact lower envelope: each curve interpolated in log-log, minimum across runs per compute."""
    grid = _log_grid(usable, column, n_points)
    matrix, runs, sizes = _curve_matrix(usable, column, grid)
    best = np.argmin(matrix, axis=0)
    covered = np.isfinite(matrix[best, np.arange(len(grid))])  # compute gaps no curve spans are dropped
    return pd.DataFrame({"compute": np.exp(grid), "loss": np.exp(matrix[best, np.arange(len(grid))]),
                         "run_id": np.array(runs)[best], "N": sizes[best]})[covered]


def interpolated_optima(log_compute: np.ndarray, sizes: np.ndarray, log_loss: np.ndarray) -> pd.DataFrame:
    """N_opt and L_opt at each compute value: runs' log losses (rows, inf where a run has none) reduced to
    the lowest per model size, then a local parabola in log N around the lowest size (analysis.optimum).
    Columns compute, N_opt, L_opt, bracketed, message."""
    distinct, inverse = np.unique(sizes, return_inverse=True)
    per_size = np.full((len(distinct), log_loss.shape[1]), np.inf)
    np.minimum.at(per_size, inverse, log_loss)
    optima = local_minima(np.log(distinct), np.where(np.isfinite(per_size), np.exp(per_size), np.nan))
    return pd.DataFrame({"compute": np.exp(log_compute), "N_opt": np.exp(optima["log_n_opt"]),
                         "L_opt": optima["loss_opt"], "bracketed": optima["bracketed"],
                         "message": optima["message"]})


def fit_optimal_size(optima: pd.DataFrame, result: FitResult) -> None:
    """Set result.params['a_Nopt']: log N_opt regressed on log C over the bracketed interpolated optima."""
    good = optima[optima["bracketed"]]
    if len(good) < MIN_DISTINCT_X or good["N_opt"].nunique() < 2:
        result.diagnostics.append(f"a_Nopt: {len(good)} compute values with a bracketed interpolated optimum "
                                  f"(need >= {MIN_DISTINCT_X}); not fitted")
        return
    log_c, log_n = np.log(good["compute"].to_numpy(float)), np.log(good["N_opt"].to_numpy(float))
    slope, offset = np.polyfit(log_c, log_n, 1)
    result.params["a_Nopt"] = float(slope)
    result.extra.setdefault("r2_log_of", {})["a_Nopt"] = r2_log(np.exp(log_n), np.exp(offset + slope * log_c))
    result.extra["optima"] = optima


def _envelope_bins(usable: pd.DataFrame, column: str, n_points: int) -> pd.DataFrame:
    """Binned lower envelope: log-spaced compute bins, the lowest logged loss in each."""
    edges = np.linspace(np.log(usable[column].min()), np.log(usable[column].max()) + 1e-12, n_points + 1)
    binned = usable.assign(_bin=np.digitize(np.log(usable[column]), edges))
    lowest = binned.loc[binned.groupby("_bin")["test_loss"].idxmin()]
    return pd.DataFrame({"compute": lowest[column].to_numpy(float), "loss": lowest["test_loss"].to_numpy(float),
                         "run_id": lowest["run_id"].to_numpy(), "N": lowest["params_non_embedding"].to_numpy(float)})


def compute_envelope(curves: pd.DataFrame, compute: str = "6n", n_points: int = ENVELOPE_POINTS,
                     method: str = "interp") -> pd.DataFrame:
    """Lower envelope of all learning curves: columns compute, loss, run_id, N (the model on it)."""
    column = compute_column(compute)
    return _envelope_of_usable(usable_curves(curves, column), column, n_points, method)


def _envelope_of_usable(usable: pd.DataFrame, column: str, n_points: int, method: str) -> pd.DataFrame:
    if usable.empty:
        return pd.DataFrame(columns=["compute", "loss", "run_id", "N"])
    if method == "interp":
        return _envelope_interp(usable, column, n_points).reset_index(drop=True)
    if method == "bins":
        return _envelope_bins(usable, column, n_points).reset_index(drop=True)
    raise ValueError(f"method={method!r}: expected 'interp' or 'bins'")


def _run_spans(usable: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per usable run (usable_curves): its model size N and the compute range its learning curve covers."""
    return usable.groupby("run_id").agg(N=("params_non_embedding", "first"), lo=(column, "min"),
                                        hi=(column, "max")).reset_index()


def _bracketed(envelope: pd.DataFrame, spans: pd.DataFrame) -> np.ndarray:
    """Mask of envelope points whose owner beat both neighbouring model sizes at that very compute.

    At fixed compute the loss is unimodal in N (Kaplan 2020 fig. 2, Hoffmann 2022 fig. 3), so an owner
    that is lower than the next smaller and the next larger size of the grid is the grid's best there.
    A point is kept only when a curve of each neighbour covers its compute: where the smaller model's
    runs stopped earlier, or the larger model's curves start later, the owner won by default, and such
    points bias the frontier towards large models (and a towards 1). The smallest and largest sizes
    have a neighbour missing, so their points are never kept.
    """
    run_sizes, lo, hi = (spans[c].to_numpy(float) for c in ("N", "lo", "hi"))
    sizes = np.unique(run_sizes)
    keep = np.zeros(len(envelope), bool)
    for i, (c, n) in enumerate(zip(envelope["compute"].to_numpy(float), envelope["N"].to_numpy(float))):
        k = int(np.searchsorted(sizes, n))
        if 0 < k < len(sizes) - 1:
            covered = (lo <= c * (1 + COVER_RTOL)) & (hi >= c * (1 - COVER_RTOL))
            keep[i] = all((covered & (run_sizes == sizes[k + step])).any() for step in (-1, 1))
    return keep


def _fit_frontier(curves: pd.DataFrame, compute: str, n_points: int, method: str, bracketed_only: bool) -> FitResult:
    column = compute_column(compute)
    usable = usable_curves(curves, column)
    spans = _run_spans(usable, column)
    if spans["N"].nunique() < MIN_DISTINCT_X:
        return FitResult.failed("L(C_min)", f"L(C_min): {spans['N'].nunique()} model sizes with a usable curve "
                                            f"(need >= {MIN_DISTINCT_X} for a compute frontier)", FRONTIER_KEYS)
    envelope = _envelope_of_usable(usable, column, n_points, method)
    fitted, notes = envelope, ["fit on the whole envelope (bracketed_only=False)"]
    if bracketed_only:
        keep = _bracketed(envelope, spans)
        if keep.sum() >= MIN_DISTINCT_X and envelope.loc[keep, "N"].nunique() >= 2:
            fitted = envelope[keep]
            notes = [f"fit on {int(keep.sum())} of {len(envelope)} envelope points: those whose owner beat the "
                     "next smaller and larger model sizes at the same compute"]
        else:
            notes = [f"FRONTIER NOT BRACKETED: only {int(keep.sum())} of {len(envelope)} envelope points have curves "
                     "of both neighbouring model sizes at their compute, so the fit uses the whole envelope, where "
                     "models win because their neighbours' runs stopped or had not started: α_C is biased "
                     "(train the smaller models longer)"]
    loss_fit = fit_power_law(fitted["compute"], fitted["loss"], symbol="C", name="L(C_min)")
    result = FitResult("L(C_min)", {**loss_fit.params, "a_Nopt": np.nan}, loss_fit.converged, loss_fit.message,
                       r2_log=loss_fit.r2_log, n_points=len(fitted), diagnostics=notes + loss_fit.diagnostics,
                       objective=loss_fit.objective,
                       predict=loss_fit.predict, extra={"envelope": envelope, "fitted": fitted})
    grid = _log_grid(usable, column, n_points)
    matrix, _, sizes = _curve_matrix(usable, column, grid)
    fit_optimal_size(interpolated_optima(grid, sizes, matrix), result)
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
    def fit(frame):
        return _fit_frontier(frame, compute, n_points, method, bracketed_only)

    result = fit(curves)
    result.extra["compute"] = compute_column(compute)
    return attach_bootstrap(result, fit, curves, n_boot, seed, unit="run_id")
