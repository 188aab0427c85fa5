"""Extrapolation checks (fit without the largest model or budget, predict it) and model comparison."""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import pandas as pd

from analysis.chinchilla import fit_chinchilla_sets
from analysis.data import select_grid
from analysis.frontier import compute_envelope, fit_compute_frontier
from analysis.isoflop import fit_isoflop, isoflop_minima
from analysis.optimum import merge_budgets
from analysis.joint import fit_kaplan_nd_sets, joint_arrays
from analysis.powerlaw import fit_aggregated
from analysis.result import FitResult

K_FOLDS = 5  # folds over runs for the model comparison


def joint_fitters(max_starts: int) -> dict[str, Callable]:
    """Kaplan eq. 1.5 and Chinchilla, each fitting a list of (N, D, loss) arrays in one batch. Each keeps its
    result per input (the fits are deterministic), so the extrapolation check and the model comparison, which
    both fit without the largest N, fit once."""
    return {"Kaplan L(N,D)": _once_per_input(fit_kaplan_nd_sets),
            "Chinchilla": _once_per_input(functools.partial(fit_chinchilla_sets, max_starts=max_starts))}


def _once_per_input(fit_sets: Callable) -> Callable:
    results: dict[tuple, FitResult] = {}

    def fit(sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[FitResult]:
        keys = [tuple(np.ascontiguousarray(a, dtype=float).tobytes() for a in arrays) for arrays in sets]
        new = dict(zip(keys, sets))  # each input once, in order
        new = {key: arrays for key, arrays in new.items() if key not in results}
        results.update(zip(new, fit_sets(list(new.values()))) if new else ())
        return [results[key] for key in keys]

    return fit


def _row(fit: str, held_out: str, predicted: float, observed: float, note: str = "") -> dict:
    rel = predicted / observed - 1 if np.isfinite(predicted) and np.isfinite(observed) else math.nan
    return {"fit": fit, "held_out": held_out, "predicted": predicted, "observed": observed,
            "rel_error": rel, "note": note}


def extrapolate_power_law(runs: pd.DataFrame, grid: str, x_col: str, symbol: str, loss_col: str) -> dict:
    """Fit L(X) without the largest X of its grid; predict that X's loss."""
    chosen, _, _ = select_grid(runs[runs["status"] == "completed"], grid)
    if chosen.empty:
        return _row(f"L({symbol})", "-", math.nan, math.nan, f"no {grid} runs")
    largest = chosen[x_col].max()
    fit = fit_aggregated(chosen[chosen[x_col] < largest], x_col, loss_col, symbol, irreducible=False)
    observed = float(np.exp(np.log(chosen.loc[chosen[x_col] == largest, loss_col]).mean()))
    predicted = float(fit.predict(largest)) if fit.ok else math.nan
    return _row(f"L({symbol})", f"{symbol}={largest:.3g}", predicted, observed, fit.notes())


def extrapolate_joint(runs: pd.DataFrame, name: str, fit_sets: Callable, loss_col: str) -> dict:
    """Fit a joint L(N, D) without the largest-N runs; mean relative error over those runs."""
    usable = runs[runs["status"] == "completed"]
    largest = usable["params_non_embedding"].max()
    held = usable["params_non_embedding"] == largest
    fit = fit_sets([joint_arrays(usable[~held], loss_col)])[0]
    n, d, loss = joint_arrays(usable[held], loss_col)
    if not fit.ok or len(loss) == 0:
        return _row(name, f"N={largest:.3g}", math.nan, math.nan, fit.notes())
    predicted = fit.predict(n, d)
    row = _row(name, f"N={largest:.3g} ({len(loss)} runs)", float(np.mean(predicted)), float(np.mean(loss)))
    row["rel_error"] = float(np.mean(np.abs(predicted / loss - 1)))
    row["note"] = "rel_error = mean |predicted/observed - 1| over held-out runs"
    return row


def extrapolate_isoflop(runs: pd.DataFrame, loss_col: str) -> dict:
    """Fit N_opt ∝ C^a without the largest budget; predict that budget's parabola minimum."""
    minima = isoflop_minima(runs, loss_col)
    if minima.empty:
        return _row("IsoFLOP N_opt", "-", math.nan, math.nan, "no isoflop runs")
    largest = minima["budget"].max()
    target = minima[minima["budget"] == largest].iloc[0]
    fit = fit_isoflop(runs[merge_budgets(runs["compute_budget"]) != largest], loss_col=loss_col, n_boot=0)
    predicted = float(fit.predict(target["C"])) if fit.ok and target["ok"] else math.nan
    note = fit.notes() + ("; held-out minimum not bracketed" if target["edge"] else "")
    return _row("IsoFLOP N_opt", f"C={largest:.3g}", predicted, float(target["N_opt"]), note)


def extrapolate_frontier(curves: pd.DataFrame, compute: str) -> dict:
    """Fit the frontier without the largest model's curves; predict the envelope at the largest compute."""
    usable = curves[curves["status"] == "completed"]
    largest = usable["params_non_embedding"].max()
    fit = fit_compute_frontier(usable[usable["params_non_embedding"] < largest], compute=compute, n_boot=0)
    envelope = compute_envelope(usable, compute)
    if envelope.empty or not fit.ok:
        return _row("L(C_min)", f"N={largest:.3g}", math.nan, math.nan, fit.notes())
    last = envelope.iloc[-1]
    return _row("L(C_min)", f"N={largest:.3g}", float(fit.predict(last["compute"])), float(last["loss"]),
                f"envelope at C={last['compute']:.3g}")


def _held_out_errors(fit: FitResult, test: pd.DataFrame, loss_col: str) -> np.ndarray:
    n, d, loss = joint_arrays(test, loss_col)
    if not fit.ok:
        return np.full(len(loss), np.nan)
    return np.log(fit.predict(n, d)) - np.log(loss)


def compare_joint_models(runs: pd.DataFrame, models: dict[str, Callable], *, loss_col: str = "final_test_loss",
                         k: int = K_FOLDS, seed: int = 0) -> pd.DataFrame:
    """The joint `models` (joint_fitters) by held-out log error: leave-largest-N-out and k-fold over runs."""
    usable = runs[runs["status"] == "completed"].reset_index(drop=True)
    largest = usable["params_non_embedding"] == usable["params_non_embedding"].max()
    folds = np.random.default_rng(seed).permutation(len(usable)) % k
    splits = {"leave-largest-N-out": [(~largest, largest)],
              f"{k}-fold over runs": [(folds != i, folds == i) for i in range(k)]}
    trains = [joint_arrays(usable[tr], loss_col) for pairs in splits.values() for tr, _ in pairs]
    fits = {model: fitter(trains) for model, fitter in models.items()}  # all of a model's fits in one batch
    rows, first = [], 0
    for scheme, pairs in splits.items():
        for model in models:
            held_out = zip(fits[model][first:first + len(pairs)], pairs)
            errors = np.concatenate([_held_out_errors(fit, usable[te], loss_col) for fit, (_, te) in held_out])
            failed = int((~np.isfinite(errors)).sum())
            errors = errors[np.isfinite(errors)]
            rows.append({"scheme": scheme, "model": model, "n_test": len(errors), "failed_predictions": failed,
                         "rmse_log": float(np.sqrt(np.mean(errors**2))) if len(errors) else math.nan,
                         "mean_abs_rel_error": float(np.mean(np.abs(np.expm1(errors)))) if len(errors) else math.nan})
        first += len(pairs)
    return pd.DataFrame(rows)
