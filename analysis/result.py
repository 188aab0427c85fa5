"""The result object every fit returns, in the spirit of scipy.optimize.OptimizeResult."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

MIN_DISTINCT_X = 3  # fewer distinct abscissae cannot constrain a two-parameter power law plus noise
DISAGREE_RTOL = 0.02  # near-best starts whose exponents differ by more than this are reported
NEAR_BEST_RTOL = 0.01  # a start is near-best when its cost is within 1% of the best
# A fitted floor (L∞, Chinchilla's E) below 0.1% of the smallest observed loss changes no fitted loss by more
# than that, far less than a toy sweep's seed noise: the optimiser ran it to zero and the data show no floor.
NO_FLOOR_FRACTION = 1e-3
# Residual degrees of freedom (points minus parameters) below this leave R² and bootstrap intervals almost no
# information: with 3 points a 3-parameter fit passes through every point.
MIN_RESIDUAL_DOF = 2


@dataclass
class FitResult:
    """Parameters, bootstrap intervals and standard errors, the objective, quality and diagnostics of one fit.

    A fit that failed or is untrustworthy says so in `converged`, `message` and `diagnostics`;
    its parameters are NaN when the data could not support any number at all.
    """

    name: str
    params: dict[str, float]
    converged: bool
    message: str
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    r2_log: float = math.nan
    n_points: int = 0
    diagnostics: list[str] = field(default_factory=list)
    objective: float = math.nan
    """The value the fit minimised at its optimum (its docstring says which: e.g. the sum of squared log residuals)."""
    std_errors: dict[str, float] = field(default_factory=dict)
    """Standard error of each parameter: the standard deviation of its bootstrap refits (empty without them)."""
    predict: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def failed(cls, name: str, message: str, param_names: list[str], n_points: int = 0) -> "FitResult":
        """A result that carries no numbers, only the reason why."""
        return cls(name, {p: math.nan for p in param_names}, False, message, n_points=n_points)

    @property
    def ok(self) -> bool:
        """True when the fit converged and produced numbers (an optional secondary one may be NaN)."""
        return self.converged and any(np.isfinite(v) for v in self.params.values())

    def std_error(self, key: str) -> float:
        """The bootstrap standard error of one parameter, nan when not bootstrapped."""
        return self.std_errors.get(key, math.nan)

    def interval(self, key: str) -> tuple[float, float]:
        """The bootstrap 95% interval of one parameter, (nan, nan) when not bootstrapped."""
        return self.intervals.get(key, (math.nan, math.nan))

    def notes(self) -> str:
        """Message and diagnostics as one line for a report cell."""
        parts = [self.message] + self.diagnostics
        return "; ".join(p for p in parts if p)


def r2_log(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination of log(loss): 1 - SS_res/SS_tot."""
    y, yhat = np.log(observed), np.log(predicted)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss_tot


def check_points(name: str, x: np.ndarray, loss: np.ndarray) -> str | None:
    """Why (x, loss) cannot support a power-law fit, or None if it can."""
    if len(x) != len(loss):
        return f"{name}: x has {len(x)} values but loss has {len(loss)}"
    bad = ~np.isfinite(loss) | (loss <= 0)
    if bad.any():
        return f"{name}: {int(bad.sum())} of {len(loss)} losses are non-finite or <= 0; refusing to fit"
    if (~np.isfinite(x) | (x <= 0)).any():
        return f"{name}: x contains non-finite or non-positive values; refusing to fit"
    n_distinct = len(np.unique(x))
    if n_distinct < MIN_DISTINCT_X:
        return f"{name}: only {n_distinct} distinct x values (need >= {MIN_DISTINCT_X}); no fit"
    return None


def at_initial_values(start: np.ndarray, end: np.ndarray) -> bool:
    """True when an optimiser returned (almost) exactly where it started."""
    return bool(np.allclose(start, end, rtol=1e-7, atol=1e-10))


def multistart_best(fits: list[tuple[float, Any, np.ndarray]], exponent_slice: slice) -> tuple[Any, list[str]]:
    """The lowest-cost result of a multi-start fit, given as (cost, result with parameters .x, start) triples,
    and its notes: near-best starts whose exponents (result.x[exponent_slice]) disagree by more than
    DISAGREE_RTOL of the best's, and a best fit that ended at its own start."""
    best_cost, best, start = min(fits, key=lambda item: item[0])
    notes = []
    near = np.array([f.x[exponent_slice] for cost, f, _ in fits
                     if cost <= best_cost * (1 + NEAR_BEST_RTOL) + 1e-15])
    spread = near.max(axis=0) - near.min(axis=0)
    if (spread > DISAGREE_RTOL * np.abs(best.x[exponent_slice])).any():
        notes.append(f"init-grid starts disagree: {len(near)} near-best starts, exponent spread {spread.round(4)}")
    if at_initial_values(start, best.x):
        notes.append("fit ended at its initial values")
    return best, notes


def batch_best(starts: np.ndarray, x: np.ndarray, fun: np.ndarray, exponent_slice: slice) -> tuple[int, list[str]]:
    """multistart_best over one set's batched starts (parameters x, costs fun, a row per start): the index of the
    start it keeps (the first of the lowest cost) and its notes."""
    fits = [(cost, SimpleNamespace(x=theta), start) for cost, theta, start in zip(fun, x, starts)]
    _, notes = multistart_best(fits, exponent_slice)
    return int(np.argmin(fun)), notes


def floor_diagnostics(symbol: str, floor: float, loss: np.ndarray) -> list[str]:
    """A note when the fitted irreducible loss `floor` ran to zero against the observed `loss`."""
    smallest = float(np.min(loss))
    if floor < NO_FLOOR_FRACTION * smallest:
        return [f"{symbol} ran to 0 ({floor:.3g}, under {NO_FLOOR_FRACTION:g} of the smallest loss {smallest:.4g}): "
                f"the data show no irreducible loss, so {symbol} is not identified"]
    return []


def dof_diagnostics(n_points: int, n_params: int) -> list[str]:
    """A note when a fit has fewer than MIN_RESIDUAL_DOF points beyond its parameters."""
    if n_points - n_params < MIN_RESIDUAL_DOF:
        return [f"only {n_points} points for {n_params} parameters: the fit nearly interpolates them, so its R² "
                "and intervals say little"]
    return []
