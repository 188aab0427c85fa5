"""Bootstrap over runs: resample runs with replacement, refit, take percentile intervals."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from analysis.result import FitResult

CONFIDENCE = 0.95  # two-sided percentile interval reported beside every exponent
MAX_FAILED_FRACTION = 0.10  # more failed refits than this makes the interval suspect; say so

BatchRefit = Callable[[np.ndarray], tuple[dict[str, np.ndarray], np.ndarray]]
"""refit(counts) -> (parameter samples, ok): counts (n_boot, len(data)) say how often each row of the data is
in each resample; the samples are one array of n_boot values per parameter, ok says which refits succeeded."""


def _units(data: pd.DataFrame, unit: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct values of `unit` (as str, sorted) and the row positions of each."""
    keys, codes = np.unique(data[unit].astype(str).to_numpy(), return_inverse=True)
    return keys, [np.flatnonzero(codes == i) for i in range(len(keys))]


def _draws(data: pd.DataFrame, unit: str | None, strata: str | None, n_boot: int,
           rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The rows of `n_boot` resamples of `data` (positions, in the order drawn) and the units picked: rows, or
    whole `unit`s (run_id) drawn within each stratum."""
    if unit is None:
        return [(rng.integers(0, len(data), len(data)), None) for _ in range(n_boot)]
    _, positions = _units(data, unit)
    stratum_of = data[strata].to_numpy()[[p[0] for p in positions]] if strata else np.zeros(len(positions))
    pools = [np.flatnonzero(stratum_of == s) for s in pd.unique(stratum_of)]
    draws = []
    for _ in range(n_boot):
        picks = np.concatenate([rng.choice(pool, len(pool)) for pool in pools])
        draws.append((np.concatenate([positions[i] for i in picks]), picks))
    return draws


def bootstrap_params(fit: Callable[[pd.DataFrame], FitResult], data: pd.DataFrame, n_boot: int,
                     seed: int, unit: str | None = "run_id", strata: str | None = None) -> tuple[pd.DataFrame, int]:
    """Parameter samples of `n_boot` refits on resampled runs, and how many refits failed."""
    unit = unit if unit in data else None
    keys, positions = _units(data, unit) if unit else (None, None)
    rows, failed = [], 0
    for picked, picks in _draws(data, unit, strata, n_boot, np.random.default_rng(seed)):
        frame = data.iloc[picked]
        if unit:  # duplicated runs get a fresh id so per-run operations (curve interpolation) see them apart
            labels = np.repeat([f"{keys[i]}#{k}" for k, i in enumerate(picks)], [len(positions[i]) for i in picks])
            frame = frame.assign(**{unit: labels})
        refit = fit(frame.reset_index(drop=True))
        if refit.ok:
            rows.append(refit.params)
        else:
            failed += 1
    return pd.DataFrame(rows), failed


def resample_counts(data: pd.DataFrame, n_boot: int, seed: int, unit: str | None = "run_id",
                    strata: str | None = None) -> np.ndarray:
    """(n_boot, len(data)): how often each row is in each resample, for the same resamples as bootstrap_params."""
    unit = unit if unit in data else None
    draws = _draws(data, unit, strata, n_boot, np.random.default_rng(seed))
    return np.array([np.bincount(rows, minlength=len(data)) for rows, _ in draws]).reshape(n_boot, len(data))


def _summarise(result: FitResult, samples: dict[str, np.ndarray], failed: int, n_boot: int) -> FitResult:
    tail = 100 * (1 - CONFIDENCE) / 2
    for key in result.params:
        values = np.asarray(samples.get(key, []), float)
        values = values[np.isfinite(values)]
        if len(values) >= 2:
            result.intervals[key] = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))
            result.std_errors[key] = float(np.std(values, ddof=1))
    if failed > MAX_FAILED_FRACTION * n_boot:
        result.diagnostics.append(f"bootstrap: {failed} of {n_boot} refits failed; intervals use the rest")
    result.extra["n_boot"] = n_boot
    return result


def attach_bootstrap(result: FitResult, fit: Callable[[pd.DataFrame], FitResult], data: pd.DataFrame,
                     n_boot: int, seed: int, unit: str | None = "run_id", strata: str | None = None) -> FitResult:
    """Fill `result.intervals` with 95% percentile intervals and `result.std_errors` with the standard
    deviations of `n_boot` refits (seeded).

    Runs are resampled with replacement as whole units (all curve rows of a run travel together),
    separately within each value of `strata` (e.g. the IsoFLOP budget) when given.
    """
    if n_boot <= 0 or not result.ok:
        return result
    samples, failed = bootstrap_params(fit, data, n_boot, seed, unit, strata)
    return _summarise(result, {k: samples[k].to_numpy(float) for k in samples}, failed, n_boot)


def one_by_one(fit_of: Callable[[np.ndarray], FitResult], keys: list[str]) -> BatchRefit:
    """A BatchRefit that refits the resamples one at a time: fit_of(a row of counts) -> that resample's FitResult,
    whose params[key] for `keys` are the samples and whose ok says whether it succeeded."""
    def refit(counts: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        fits = [fit_of(row) for row in counts]
        return ({key: np.array([fit.params[key] for fit in fits], float) for key in keys},
                np.array([fit.ok for fit in fits], bool))

    return refit


def attach_batch_bootstrap(result: FitResult, refit: BatchRefit, data: pd.DataFrame, n_boot: int, seed: int,
                           unit: str | None = "run_id", strata: str | None = None) -> FitResult:
    """attach_bootstrap for a fit that refits every resample in one call (BatchRefit): the same resamples
    (row counts of resample_counts), the same intervals and standard errors of the successful refits."""
    if n_boot <= 0 or not result.ok:
        return result
    samples, ok = refit(resample_counts(data, n_boot, seed, unit, strata))
    return _summarise(result, {k: np.asarray(v, float)[ok] for k, v in samples.items()}, int((~ok).sum()), n_boot)
