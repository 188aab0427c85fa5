"""Every exponent under every counting convention side by side: which parameters count as N, which FLOPs count
as C, and final versus mid-run points. Pearce & Song 2024 ("Reconciling Kaplan and Chinchilla Scaling Laws",
arXiv:2406.12907) show that counting embeddings at small N moves a from near Kaplan's 0.73 towards
Chinchilla's 0.5; Porian et al. 2024 (arXiv:2406.19146) add the FLOP count and the learning-rate decay.
Point estimates only (no bootstrap): the headline fits carry the intervals.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.branches import curve_segments
from analysis.chinchilla import fit_chinchilla_sets
from analysis.data import COMPUTE_CONVENTIONS
from analysis.frontier import fit_compute_frontier
from analysis.frontier_final import fit_final_frontier
from analysis.isoflop import fit_isoflop
from analysis.powerlaw import fit_loss_vs_params, fit_loss_vs_tokens

# What N counts (docs/analysis.md): Kaplan 2020's non-embedding N; N with the token embedding and the output
# head (counted once when tied); every parameter (Pearce & Song 2024's N_T, Hoffmann 2022's N).
N_COUNTINGS = {"non_embedding": ("params_non_embedding",),
               "with_embeddings": ("params_non_embedding", "params_token_embedding", "params_output_head"),
               "total": ("params_total",)}
CONVENTION_STARTS = 20  # Chinchilla L-BFGS starts per cell: 24 cells must not slow the report much
COLUMNS = ["N counts", "C counts", "points", "α_N", "α_D", "α_C", "a (frontier)", "a (IsoFLOP)",
           "α (Chinchilla)", "β (Chinchilla)", "a = β/(α+β)"]


def n_under(runs: pd.DataFrame, counting: str) -> pd.Series | None:
    """N of each run under `counting` (a key of N_COUNTINGS); None when a column it sums is missing."""
    columns = N_COUNTINGS[counting]
    if not all(c in runs for c in columns):
        return None
    return sum(runs[c].astype(float) for c in columns)


def _has_mid_run(curves: pd.DataFrame) -> bool:
    return not curves.empty and curves.groupby("run_id").size().max() >= 2


def _mid_run_points(curves: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, tokens, test loss) of every usable curve point, a trunk's shared rows once."""
    keep = np.isfinite(curves["test_loss"]) & (curves["test_loss"] > 0) & (curves["tokens"] > 0)
    points = curve_segments(curves[keep & (curves.get("status", "completed") == "completed")])
    return (points["params_non_embedding"].to_numpy(float), points["tokens"].to_numpy(float),
            points["test_loss"].to_numpy(float))


def _chinchilla_points(runs, curves, points: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) for the Chinchilla cell: final losses of completed runs, or every usable curve point."""
    if points == "mid-run":
        return _mid_run_points(curves)
    usable = runs[runs["status"] == "completed"]
    return tuple(usable[c].to_numpy(float) for c in ("params_non_embedding", "tokens", "final_test_loss"))


def _chinchilla_cells(counted: dict, kinds: dict) -> dict:
    """Chinchilla's α, β and a per (N counting, points), the cells of each kind of points fitted in one batch
    (final and mid-run point sets differ in size by the curve length)."""
    cells = {}
    for points in ("final", "mid-run"):
        keys = [(counting, points) for counting in counted if points in kinds[counting]]
        fits = fit_chinchilla_sets([_chinchilla_points(*counted[c], points) for c, _ in keys],
                                   max_starts=CONVENTION_STARTS) if keys else []
        for key, fit in zip(keys, fits):
            cells[key] = {k: (fit.params[k] if fit.ok else math.nan) for k in ("alpha", "beta", "a_from_fit")}
    return cells


def _value(fit, key: str) -> float:
    return fit.params.get(key, math.nan) if fit.ok else math.nan


def _points_kinds(curves) -> tuple[str, ...]:
    return ("final", "mid-run") if _has_mid_run(curves) else ("final",)


def _counting_rows(runs, curves, counting: str, conventions: list[str], chinchilla: dict) -> list[dict]:
    """The rows of one N counting: final points, then mid-run points where curves have them."""
    rows = []
    for points in _points_kinds(curves):
        loss_col = "final_test_loss" if points == "final" else "best_test_loss"
        common = {"α_N": _value(fit_loss_vs_params(runs, loss_col=loss_col, n_boot=0), "alpha_N"),
                  "α_D": _value(fit_loss_vs_tokens(runs, loss_col=loss_col, n_boot=0), "alpha_D")}
        chin = chinchilla[(counting, points)]
        for conv in conventions:
            if points == "final":
                frontier = fit_final_frontier(runs, compute=conv, n_boot=0)
                iso = fit_isoflop(runs, compute="budget" if conv == "6n" else conv, n_boot=0) \
                    if runs["compute_budget"].notna().any() else None
            elif f"compute_{conv}" in curves:
                frontier, iso = fit_compute_frontier(curves, compute=conv, n_boot=0), None
            else:
                frontier, iso = None, None
            rows.append({"N counts": counting, "C counts": conv, "points": points, **common,
                         "α_C": _value(frontier, "alpha_C") if frontier else math.nan,
                         "a (frontier)": _value(frontier, "a_Nopt") if frontier else math.nan,
                         "a (IsoFLOP)": _value(iso, "a") if iso is not None else math.nan,
                         "α (Chinchilla)": chin["alpha"], "β (Chinchilla)": chin["beta"],
                         "a = β/(α+β)": chin["a_from_fit"]})
    return rows


def convention_exponents(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (N counting, FLOP convention, final or mid-run points) the columns allow; columns COLUMNS.

    α_N and α_D come from L(N) and L(D) (final loss, or the curve's lowest for mid-run), α_C and a from the
    final-point frontier or, for mid-run, the envelope of learning curves; IsoFLOP uses final points only.
    """
    conventions = [c for c in COMPUTE_CONVENTIONS if f"flops_per_token_{c}" in runs]
    if "compute_budget" not in runs:
        runs = runs.assign(compute_budget=math.nan)
    counted = {}
    for counting in N_COUNTINGS:
        n = n_under(runs, counting)
        if n is not None:
            by_run = dict(zip(runs["run_id"], n))
            counted[counting] = (runs.assign(params_non_embedding=n),
                                 curves.assign(params_non_embedding=curves["run_id"].map(by_run)))
    chinchilla = _chinchilla_cells(counted, {c: _points_kinds(frames[1]) for c, frames in counted.items()})
    rows = [row for counting, (counted_runs, counted_curves) in counted.items()
            for row in _counting_rows(counted_runs, counted_curves, counting, conventions, chinchilla)]
    return pd.DataFrame(rows, columns=COLUMNS)
