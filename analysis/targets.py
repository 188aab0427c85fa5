"""Whether a sweep's laws meet the default sweep's quality targets (docs/analysis.md, "Targets").

The targets are the project's acceptance criteria for the `kaplan_fig1` preset, not constants of a paper: a
law is "clean" when L(N) is a line (R² and a narrow exponent), L(D) holds at several sizes, the compute
frontier and the optimal-size exponent are measured with finite intervals, and the joint laws extrapolate.
"""
from __future__ import annotations

import math

import pandas as pd

L_N_MIN_R2 = 0.97
L_N_MAX_INTERVAL = 0.03  # width of the 95% interval of α_N
L_D_MIN_R2 = 0.98
L_D_MIN_SIZES = 3  # sizes whose own L(D) meets L_D_MIN_R2
A_MAX_INTERVAL = 0.3  # width of the 95% interval of a (N_opt ∝ C^a)
EXTRAPOLATION_MAX_ERROR = 0.02  # mean |predicted/observed - 1| on the held-out largest model
JOINT_LAWS = ("L(N,D) Kaplan", "Chinchilla")


def _row(target: str, measured: str, met: bool) -> dict:
    return {"target": target, "measured": measured, "met": "yes" if met else "MISSED"}


def _width(interval: tuple[float, float]) -> float:
    low, high = interval
    return high - low if math.isfinite(low) and math.isfinite(high) else math.inf


def l_of_n_rows(fit) -> list[dict]:
    alpha, (low, high) = fit.params.get("alpha_N", math.nan), fit.interval("alpha_N")
    return [_row(f"L(N): R² (log) >= {L_N_MIN_R2}", f"{fit.r2_log:.3f}", fit.r2_log >= L_N_MIN_R2),
            _row(f"L(N): 95% interval of α_N no wider than {L_N_MAX_INTERVAL}",
                 f"α_N = {alpha:.3f} [{low:.3f}, {high:.3f}], width {_width((low, high)):.3f}",
                 _width((low, high)) <= L_N_MAX_INTERVAL)]


def l_of_d_rows(per_size: pd.DataFrame | None) -> list[dict]:
    table = per_size if per_size is not None else pd.DataFrame()
    good = table[table["r2_log"] >= L_D_MIN_R2] if not table.empty else table
    listed = ", ".join(f"{r.shape} {r.r2_log:.3f}" for r in table.itertuples()) if not table.empty else "none"
    return [_row(f"L(D) for >= {L_D_MIN_SIZES} sizes, each R² >= {L_D_MIN_R2}",
                 f"{len(good)} of {len(table)} sizes (R²: {listed})", len(good) >= L_D_MIN_SIZES)]


def frontier_rows(fit) -> list[dict]:
    if fit is None:
        return [_row("frontier: α_C and a measured", "no final-point frontier", False)]
    rows = []
    for key, symbol, max_width in (("alpha_C", "α_C", math.inf), ("a_Nopt", "a", A_MAX_INTERVAL)):
        value, interval = fit.params.get(key, math.nan), fit.interval(key)
        width = _width(interval)
        inside = math.isfinite(value) and 0 < value < 1 and width < math.inf
        wanted = "finite 95% interval" + (f" no wider than {max_width}, not at a bound" if max_width < math.inf else "")
        rows.append(_row(f"frontier: {symbol} with a {wanted}",
                         f"{symbol} = {value:.3g} [{interval[0]:.3g}, {interval[1]:.3g}]"
                         + (f" ({fit.notes()})" if not math.isfinite(value) else ""),
                         inside and width <= max_width))
    return rows


def extrapolation_rows(table: pd.DataFrame | None) -> list[dict]:
    rows = []
    for law in JOINT_LAWS:
        match = table[table["fit"] == law] if table is not None and "fit" in table else pd.DataFrame()
        error = float(match["rel_error"].iloc[0]) if not match.empty and "rel_error" in match else math.nan
        rows.append(_row(f"{law}: fitted without the largest model, predicts it within "
                         f"{EXTRAPOLATION_MAX_ERROR:.0%}", f"{error:.2%}" if math.isfinite(error) else "not available",
                         error <= EXTRAPOLATION_MAX_ERROR))
    return rows


def target_table(analysis) -> pd.DataFrame:
    """One row per target: what it asks, what was measured, met or MISSED."""
    frontier = analysis.final_frontiers.get(analysis.options.compute)
    return pd.DataFrame(l_of_n_rows(analysis.fits["L(N)"]) + l_of_d_rows(analysis.l_of_d_per_size)
                        + frontier_rows(frontier) + extrapolation_rows(analysis.extrapolation))
