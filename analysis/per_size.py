"""L(D) of each model size on its own: Kaplan 2020 eq. 1.2 at fixed N, one fit per size with several budgets.

With wsd trunks every size has several fully decayed budgets (docs/schedule.md), so L(D) can be measured at
every N, not only for one d_grid model. Each fit is a straight line in log-log (L = (D_c/D)^α_D), with the
slope's 95% interval from least squares (Student t on n - 2 degrees of freedom): with 4-7 budgets per size a
bootstrap over runs would mostly draw fewer than three distinct budgets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import CONFIDENCE
from analysis.data import shape_keys, shape_label

MIN_BUDGETS = 4  # a line through three points has one residual degree of freedom; four is the fewest worth a R²


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(slope, its standard error, R²) of least squares y = a + b x."""
    xc, yc = x - x.mean(), y - y.mean()
    slope = float(xc @ yc / (xc @ xc))
    resid = yc - slope * xc
    se = float(np.sqrt(resid @ resid / (len(x) - 2) / (xc @ xc)))
    return slope, se, 1.0 - float(resid @ resid) / float(yc @ yc)


def fit_l_of_d_per_size(runs: pd.DataFrame, loss_col: str = "final_test_loss") -> pd.DataFrame:
    """One row per model shape with >= MIN_BUDGETS token budgets: α_D with its interval, R² (log), D range."""
    from scipy.special import stdtrit  # Student t quantile; imported here: scipy costs a second to import

    rows = []
    keys = shape_keys(runs)
    for _, group in runs.groupby(keys, dropna=False):
        table = group.groupby("tokens")[loss_col].apply(lambda x: float(np.exp(np.log(x).mean()))).reset_index()
        if len(table) < MIN_BUDGETS:
            continue
        slope, se, r2 = _line(np.log(table["tokens"].to_numpy(float)), np.log(table[loss_col].to_numpy(float)))
        t = float(stdtrit(len(table) - 2, 0.5 + CONFIDENCE / 2))
        n = int(group["params_non_embedding"].iloc[0])
        rows.append({"shape": shape_label(group.iloc[:1]).iloc[0], "N": n, "n_budgets": len(table),
                     "D_min": float(table["tokens"].min()), "D_max": float(table["tokens"].max()),
                     "D_max_over_N": float(table["tokens"].max()) / n, "alpha_D": -slope,
                     "alpha_D_low": -slope - t * se, "alpha_D_high": -slope + t * se, "r2_log": r2})
    return pd.DataFrame(rows).sort_values("N").reset_index(drop=True) if rows else pd.DataFrame()
