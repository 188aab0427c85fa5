"""Each shape's best peak learning rate, from a scan of rates at one budget (the `lr_sweep` preset).

The final loss of a run is, near its minimum, a parabola in log(rate) (the usual U-curve of a learning-rate
scan; e.g. Wortsman et al. 2023 Fig. 1, Porian et al. 2024). Like the compute-optimal size
(analysis/optimum.py, whose local parabola this reuses), the vertex is taken from the rates nearest the lowest
point only, so that the curve's asymmetry far from the optimum (a slow rise to the left, a steep one or a
divergence to the right) does not move it.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.optimum import local_minima

# What makes two runs points of one scan: everything that changes the best rate except the rate itself.
SCAN_KEYS = ("family", "n_layer", "d_model", "n_head", "d_ff", "n_ctx", "vocab_size", "batch_size", "tokens",
             "schedule", "beta2")
MIN_SCAN_RATES = 3  # a parabola has three coefficients
# The vertex comes from the rates within 0.35 decades of the lowest point: its neighbour on each side on the
# preset's factor-2 grid (0.30 decades). A wider window moves the vertex of a skewed U-curve (steeper to the
# right): on a curve 0.08 x^2 + 0.01 x^3 (x = ln rate / best) the 3-point vertex is off by 3%, the 5-point
# one by 9% (tests/test_analysis_lr_calibration.py).
LR_HALF_WIDTH_DECADES = 0.35
# The noise of each loss is estimated from the scatter about a parabola through the rates within 0.65
# decades (two neighbours on each side): with one seed, the only estimate of run-to-run noise there is; it
# also holds the curve's skew, so the interval errs wide.
NOISE_HALF_WIDTH_DECADES = 0.65
# Draws of the parametric bootstrap of each optimum: enough for a 95% percentile interval stable to ~1%.
LR_BOOTSTRAP_DRAWS = 2000
CONFIDENCE = 0.95


def with_beta2(runs: pd.DataFrame) -> pd.DataFrame:
    """runs with an AdamW beta2 column, read from each run's recorded config."""
    out = runs.copy()
    out["beta2"] = [json.loads(c)["train"]["beta2"] for c in out["config_json"]]
    return out


def scan_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of every learning-rate scan (>= MIN_SCAN_RATES rates at otherwise equal settings).

    A run that did not complete (diverged) keeps its rate with an infinite loss: it bounds its scan but is no
    point of a parabola. Column 'scan' numbers the scans.
    """
    if runs.empty or "config_json" not in runs:
        return pd.DataFrame()
    runs = with_beta2(runs)
    loss = np.where(runs["status"] == "completed", runs["final_test_loss"].astype(float), np.inf)
    runs = runs.assign(loss=np.where(np.isfinite(loss), loss, np.inf))
    keys = [k for k in SCAN_KEYS if k in runs]
    sizes = runs.groupby(keys, dropna=False)["lr"].transform("nunique")
    scans = runs[sizes >= MIN_SCAN_RATES].copy()
    if scans.empty:
        return pd.DataFrame()
    scans["scan"] = scans.groupby(keys, dropna=False).ngroup()
    return scans.sort_values(["scan", "lr"]).reset_index(drop=True)


def _residual_sd(log_lr: np.ndarray, loss: np.ndarray, fit: pd.Series) -> tuple[float, int]:
    """RMS residual of a scan's local parabola over the points it fitted, and its residual degrees of freedom."""
    x = log_lr - fit["centre"]
    near = np.argsort(np.where(np.isfinite(loss), np.abs(x - x[int(fit["lowest"])]), np.inf), kind="stable")
    used = near[: int(fit["n_local"])]
    resid = loss[used] - (fit["c2"] * x[used] ** 2 + fit["c1"] * x[used] + fit["c0"])
    dof = len(used) - 3
    return (float(np.sqrt(np.sum(resid**2) / dof)) if dof > 0 else 0.0), dof


def fit_lr_optimum(lr: np.ndarray, loss: np.ndarray, sem: np.ndarray, seed: int = 0,
                   draws: int = LR_BOOTSTRAP_DRAWS) -> dict:
    """The best rate of one scan: vertex of the local parabola in log(rate), with a 95% interval.

    The interval is a parametric bootstrap: every loss redrawn with the standard deviation
    sqrt(sem^2 + s^2) (its held-out sampling error, and the residual scatter s of a wider parabola, see
    NOISE_HALF_WIDTH_DECADES), the vertex refitted per draw. `bracketed` is False when the
    lowest point is at the edge of the scan or the vertex falls outside the fitted rates; then no rate is given.
    """
    lr, loss, sem = (np.asarray(a, float) for a in (lr, loss, sem))
    log_lr = np.log(lr)
    fit = local_minima(log_lr, loss[:, None], half_width_decades=LR_HALF_WIDTH_DECADES).iloc[0]
    out = {"n_rates": int(len(lr)), "n_finite": int(np.isfinite(loss).sum()), "bracketed": bool(fit["bracketed"]),
           "message": str(fit["message"]), "lr_opt": np.nan, "lr_low": np.nan, "lr_high": np.nan,
           "loss_opt": np.nan, "loss_opt_low": np.nan, "loss_opt_high": np.nan, "boot_bracketed": np.nan,
           "residual_sd": np.nan, "lowest_lr": float(lr[int(fit["lowest"])]), "lowest_loss": float(np.min(loss))}
    if not out["bracketed"]:
        return out
    wide = local_minima(log_lr, loss[:, None], half_width_decades=NOISE_HALF_WIDTH_DECADES).iloc[0]
    s, dof = _residual_sd(log_lr, loss, wide)
    sigma = np.sqrt(np.nan_to_num(sem) ** 2 + s**2)
    rng = np.random.default_rng(seed)
    noisy = loss[:, None] + sigma[:, None] * rng.standard_normal((len(lr), draws))
    boot = local_minima(log_lr, noisy, half_width_decades=LR_HALF_WIDTH_DECADES)
    good = boot["bracketed"].to_numpy()
    tail = 100 * (1 - CONFIDENCE) / 2
    lo, hi = np.percentile(boot.loc[good, "log_n_opt"], [tail, 100 - tail]) if good.any() else (np.nan, np.nan)
    llo, lhi = np.percentile(boot.loc[good, "loss_opt"], [tail, 100 - tail]) if good.any() else (np.nan, np.nan)
    out.update(lr_opt=float(np.exp(fit["log_n_opt"])), lr_low=float(np.exp(lo)), lr_high=float(np.exp(hi)),
               loss_opt=float(fit["loss_opt"]), loss_opt_low=float(llo), loss_opt_high=float(lhi),
               boot_bracketed=float(good.mean()), residual_sd=s)
    if dof <= 0:
        out["message"] = "bracketed; no rates beyond the 3 nearest, so the interval holds held-out noise only"
    return out


def lr_optima(runs: pd.DataFrame, seed: int = 0, draws: int = LR_BOOTSTRAP_DRAWS) -> pd.DataFrame:
    """One row per learning-rate scan of `runs`: its settings, N, and fit_lr_optimum's numbers."""
    points = scan_points(runs)
    if points.empty:
        return pd.DataFrame()
    rows = []
    for scan, group in points.groupby("scan"):
        fitted = fit_lr_optimum(group["lr"], group["loss"], group["final_test_loss_sem"], seed + int(scan), draws)
        settings = {k: group[k].iloc[0] for k in SCAN_KEYS if k in group}
        rows.append({**settings, "params_non_embedding": int(group["params_non_embedding"].iloc[0]), **fitted})
    return pd.DataFrame(rows)
