"""Bootstrap over runs: resample runs with replacement, refit, take percentile intervals."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from analysis.result import FitResult

CONFIDENCE = 0.95  # two-sided percentile interval reported beside every exponent
MAX_FAILED_FRACTION = 0.10  # more failed refits than this makes the interval suspect; say so


def _resampler(data: pd.DataFrame, unit: str | None, strata: str | None,
               rng: np.random.Generator) -> Callable[[], pd.DataFrame]:
    """A function drawing one resample of `data`: rows, or whole `unit`s (run_id), within each stratum."""
    if unit is None:
        return lambda: data.iloc[rng.integers(0, len(data), len(data))]
    keys, codes = np.unique(data[unit].astype(str).to_numpy(), return_inverse=True)
    positions = [np.flatnonzero(codes == i) for i in range(len(keys))]
    stratum_of = data[strata].to_numpy()[[p[0] for p in positions]] if strata else np.zeros(len(keys))
    pools = [np.flatnonzero(stratum_of == s) for s in pd.unique(stratum_of)]

    def draw() -> pd.DataFrame:
        picks = np.concatenate([rng.choice(pool, len(pool)) for pool in pools])
        rows = np.concatenate([positions[i] for i in picks])
        # duplicated runs get a fresh id so per-run operations (curve interpolation) see them apart
        labels = np.repeat([f"{keys[i]}#{k}" for k, i in enumerate(picks)], [len(positions[i]) for i in picks])
        return data.iloc[rows].assign(**{unit: labels}).reset_index(drop=True)

    return draw


def bootstrap_params(fit: Callable[[pd.DataFrame], FitResult], data: pd.DataFrame, n_boot: int,
                     seed: int, unit: str | None = "run_id", strata: str | None = None) -> tuple[pd.DataFrame, int]:
    """Parameter samples of `n_boot` refits on resampled runs, and how many refits failed."""
    draw = _resampler(data, unit if unit in data else None, strata, np.random.default_rng(seed))
    rows, failed = [], 0
    for _ in range(n_boot):
        refit = fit(draw())
        if refit.ok:
            rows.append(refit.params)
        else:
            failed += 1
    return pd.DataFrame(rows), failed


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
    tail = 100 * (1 - CONFIDENCE) / 2
    for key in result.params:
        values = samples[key].to_numpy(float) if key in samples else np.array([])
        values = values[np.isfinite(values)]
        if len(values) >= 2:
            result.intervals[key] = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))
            result.std_errors[key] = float(np.std(values, ddof=1))
    if failed > MAX_FAILED_FRACTION * n_boot:
        result.diagnostics.append(f"bootstrap: {failed} of {n_boot} refits failed; intervals use the rest")
    result.extra["n_boot"] = n_boot
    return result
