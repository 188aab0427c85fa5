"""Architecture families at matched N (Kaplan 2020 sec. 3.2.1, Fig. 7): L(N) per family, differences of exponents
and of losses against gpt2 with bootstrap intervals, and an equivalence verdict with a stated tolerance.

The verdict is an interval test against +-tolerance (two one-sided tests in the manner of Schuirmann 1987,
read from 95% intervals): the whole interval inside the band is "equivalent within 3%", the whole interval
outside it is "different", an interval that straddles an edge is "not resolved by this sweep".
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis import published as pub
from analysis.bootstrap import CONFIDENCE
from analysis.powerlaw import fit_aggregated
from analysis.result import FitResult

FAMILIES_GRID = "families"  # the grid name of configs/sweep/families.yaml
BASELINE_FAMILY = "gpt2"  # every other family is compared with it
DEFAULT_EQUIVALENCE_TOLERANCE = pub.KAPLAN_SHAPE_SPREAD_PCT / 100  # Kaplan 2020 Fig. 5 caption: "within 3%"
EQUIVALENT, DIFFERENT, UNRESOLVED = "equivalent within {:g}%", "different", "not resolved by this sweep"
N_COL, LOSS_COL, SEM_COL = "params_non_embedding", "final_test_loss", "final_test_loss_sem"


def family_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Completed runs of the families grid that say their family (empty when the sweep had none)."""
    if "grid" not in runs or "family" not in runs:
        return runs.iloc[0:0]
    return runs[(runs["grid"] == FAMILIES_GRID) & (runs["status"] == "completed")].copy()


def fit_family(runs: pd.DataFrame, loss_col: str = LOSS_COL) -> FitResult:
    """L(N) = (N_c/N)^alpha_N on one family's runs (seed replicates averaged, as fit_loss_vs_params)."""
    return fit_aggregated(runs, N_COL, loss_col, "N", irreducible=False)


def _draw(runs: pd.DataFrame, rng: np.random.Generator, loss_col: str) -> pd.DataFrame:
    """One bootstrap resample of a family's runs. With two or more seeds at every size: seeds resampled within
    each size (the size grid is the design, kept fixed). Otherwise each run's loss is redrawn from a normal
    with its held-out standard error (final_test_loss_sem): evaluation noise only, seed noise unseen
    (docs/deviations.md); with no standard error either, the resample is empty and the fit fails (no interval)."""
    sizes = runs[N_COL].to_numpy(float)
    groups = [np.flatnonzero(sizes == n) for n in np.unique(sizes)]
    if all(len(g) >= 2 for g in groups):
        return runs.iloc[np.concatenate([rng.choice(g, len(g)) for g in groups])]
    if SEM_COL not in runs:
        return runs.iloc[0:0]
    loss = runs[loss_col].to_numpy(float) + rng.normal(0.0, 1.0, len(runs)) * runs[SEM_COL].to_numpy(float)
    return runs.assign(**{loss_col: loss})


def family_fits(runs: pd.DataFrame, loss_col: str = LOSS_COL, n_boot: int = 200,
                seed: int = 0) -> dict[str, FitResult]:
    """L(N) per family with 95% intervals of alpha_N and N_c from n_boot refits on _draw resamples."""
    fits, rng = {}, np.random.default_rng(seed)
    for family, group in runs.groupby("family"):
        fit = fit_family(group, loss_col)
        refits = [fit_family(_draw(group, rng, loss_col), loss_col) for _ in range(n_boot if fit.ok else 0)]
        for key in ("alpha_N", "N_c"):
            fit.intervals[key] = _interval(np.array([r.params[key] for r in refits if r.ok]))
        fits[family] = fit
    return fits


def verdict(low: float, high: float, tolerance: float) -> str:
    """Equivalence verdict of a relative difference whose interval is [low, high] (see module docstring)."""
    if -tolerance <= low and high <= tolerance:
        return EQUIVALENT.format(100 * tolerance)
    if low > tolerance or high < -tolerance:
        return DIFFERENT
    return UNRESOLVED


def combined_verdict(verdicts: list[str], tolerance: float) -> str:
    """One verdict over several comparisons: different if any is, equivalent only if all are."""
    if DIFFERENT in verdicts:
        return DIFFERENT
    equivalent = EQUIVALENT.format(100 * tolerance)
    return equivalent if verdicts and all(v == equivalent for v in verdicts) else UNRESOLVED


def _differences(base: FitResult, other: FitResult, at_n: np.ndarray) -> np.ndarray:
    """[alpha_other - alpha_base, L_other(N)/L_base(N) - 1 at each N of at_n]."""
    return np.concatenate([[other.params["alpha_N"] - base.params["alpha_N"]],
                           other.predict(at_n) / base.predict(at_n) - 1.0])


def _bootstrap_differences(base_runs, other_runs, at_n, loss_col, n_boot, seed) -> np.ndarray:
    """(refits, 1 + len(at_n)) samples of _differences, both families resampled independently."""
    rng, rows = np.random.default_rng(seed), []
    for _ in range(n_boot):
        base = fit_family(_draw(base_runs, rng, loss_col), loss_col)
        other = fit_family(_draw(other_runs, rng, loss_col), loss_col)
        if base.ok and other.ok:
            rows.append(_differences(base, other, at_n))
    return np.array(rows).reshape(-1, 1 + len(at_n))


def _interval(samples: np.ndarray) -> tuple[float, float]:
    if len(samples) < 2:
        return (np.nan, np.nan)
    tail = 100 * (1 - CONFIDENCE) / 2
    return float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail))


def family_fit_table(fits: dict[str, FitResult], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per family: its sizes, alpha_N with its interval, N_c, and whether the fit converged."""
    rows = []
    for family, fit in fits.items():
        sizes = runs.loc[runs["family"] == family, N_COL]
        rows.append({"family": family, "runs": len(sizes), "N_min": float(sizes.min()), "N_max": float(sizes.max()),
                     "alpha_N": fit.params.get("alpha_N", np.nan), "alpha_N_95": fit.interval("alpha_N"),
                     "N_c": fit.params.get("N_c", np.nan), "ok": fit.ok, "message": fit.message})
    return pd.DataFrame(rows)


def compare_families(runs: pd.DataFrame, fits: dict[str, FitResult], *, loss_col: str = LOSS_COL,
                     n_boot: int = 200, seed: int = 0,
                     tolerance: float = DEFAULT_EQUIVALENCE_TOLERANCE) -> pd.DataFrame:
    """Per family other than gpt2: the exponent difference and the loss difference at each gpt2 size, with
    bootstrap intervals and the equivalence verdict; the family's overall verdict on its last row."""
    if BASELINE_FAMILY not in fits or not fits[BASELINE_FAMILY].ok:
        return pd.DataFrame()
    base_runs = runs[runs["family"] == BASELINE_FAMILY]
    at_n = np.unique(base_runs[N_COL].to_numpy(float))
    rows = []
    for family, fit in fits.items():
        if family == BASELINE_FAMILY or not fit.ok:
            continue
        point = _differences(fits[BASELINE_FAMILY], fit, at_n)
        samples = _bootstrap_differences(base_runs, runs[runs["family"] == family], at_n, loss_col, n_boot, seed)
        low, high = _interval(samples[:, 0])
        rows.append({"family": family, "quantity": "alpha_N - alpha_N(gpt2)", "estimate": point[0],
                     "interval_95": (low, high), "verdict": "excludes 0" if low > 0 or high < 0 else "includes 0"})
        verdicts = []
        for k, n in enumerate(at_n, start=1):
            low, high = _interval(samples[:, k])
            verdicts.append(verdict(low, high, tolerance))
            rows.append({"family": family, "quantity": f"L/L(gpt2) - 1 at N={n:.3g}", "estimate": point[k],
                         "interval_95": (low, high), "verdict": verdicts[-1]})
        rows.append({"family": family, "quantity": "loss at matched N, all sizes", "estimate": np.nan,
                     "interval_95": (np.nan, np.nan), "verdict": combined_verdict(verdicts, tolerance)})
    return pd.DataFrame(rows)


def loss_by_position(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table family, N, position (1-based), loss: each run's final loss at each context position,
    averaged over seed replicates (from the metadata column final_test_loss_by_position_json)."""
    column = "final_test_loss_by_position_json"
    if column not in runs:
        return pd.DataFrame(columns=["family", N_COL, "position", "loss"])
    rows = []
    for _, run in runs.dropna(subset=[column]).iterrows():
        for position, loss in enumerate(json.loads(run[column]), start=1):
            rows.append({"family": run.get("family", BASELINE_FAMILY), N_COL: run[N_COL], "position": position,
                         "loss": loss})
    table = pd.DataFrame(rows, columns=["family", N_COL, "position", "loss"])
    return table.groupby(["family", N_COL, "position"], as_index=False)["loss"].mean()
