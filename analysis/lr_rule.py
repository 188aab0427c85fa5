"""A rule for the best peak learning rate in width and depth, chosen among candidate forms by the data.

Fitted to the bracketed optima of analysis/lr_optimum.py, in log(rate) by least squares. The candidates:
'constant'; 'N' (a power of N alone, the form of Kaplan's eq. D.1 in log); 'width' (a power of d_model: muP's
rate ~ 1/width, Yang et al. 2021, is the slope -1 case); 'width+depth' (powers of d_model and n_layer). When
the scans hold more than one AdamW beta2 every form gets one offset per extra beta2 value. The form with the
lowest AICc is chosen; its leave-one-out error says how well it predicts a shape it was not fitted on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

RULE_FORMS = {
    "constant": (),
    "N": ("ln_params_non_embedding",),
    "width": ("ln_d_model",),
    "width+depth": ("ln_d_model", "ln_n_layer"),
}


@dataclass
class RuleFit:
    """One candidate form fitted: ln(lr) = intercept + sum of coefficient * feature (+ a beta2 offset)."""

    form: str
    coefficients: dict[str, float]
    std_errors: dict[str, float]
    aicc: float
    loo_rms: float
    """Leave-one-shape-out error of ln(lr), i.e. ~ the relative error of a predicted rate."""
    residual_rms: float
    n_points: int
    residuals: list = field(default_factory=list)


def _features(optima: pd.DataFrame, form: str, beta2_levels: list) -> tuple[np.ndarray, list[str]]:
    names = ["intercept", *RULE_FORMS[form]]
    cols = [np.ones(len(optima))]
    for name in RULE_FORMS[form]:
        cols.append(np.log(optima[name.removeprefix("ln_")].astype(float).to_numpy()))
    for level in beta2_levels[1:]:
        names.append(f"beta2={level:g}")
        cols.append((optima["beta2"].to_numpy() == level).astype(float))
    return np.stack(cols, axis=1), names


def _aicc(rss: float, n: int, k: int) -> float:
    """Akaike's criterion with the small-sample correction, for Gaussian residuals of unknown variance."""
    if n - k - 1 <= 0 or rss <= 0:
        return math.nan
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def fit_rule_form(optima: pd.DataFrame, form: str) -> RuleFit:
    """Least squares of ln(lr_opt) on the form's features, with standard errors and the leave-one-out error."""
    levels = sorted(optima["beta2"].unique())
    x, names = _features(optima, form, levels)
    y = np.log(optima["lr_opt"].astype(float).to_numpy())
    n, k = x.shape
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    rss = float(resid @ resid)
    dof = n - k
    cov = (rss / dof) * np.linalg.pinv(x.T @ x) if dof > 0 else np.full((k, k), np.nan)
    hat = np.einsum("ij,jk,ik->i", x, np.linalg.pinv(x.T @ x), x)
    loo = resid / np.where(hat < 1 - 1e-12, 1 - hat, np.nan)  # the exact leave-one-out residual of least squares
    return RuleFit(form, dict(zip(names, map(float, coef))), dict(zip(names, map(float, np.sqrt(np.diag(cov))))),
                   _aicc(rss, n, k), float(np.sqrt(np.nanmean(loo**2))), float(np.sqrt(rss / n)), n,
                   [float(r) for r in resid])


def fit_lr_rule(optima: pd.DataFrame) -> tuple[RuleFit | None, pd.DataFrame]:
    """(the chosen form's fit or None, a table of every form) from the bracketed optima."""
    usable = optima[optima["bracketed"]].reset_index(drop=True) if not optima.empty else optima
    fits = [fit_rule_form(usable, form) for form in RULE_FORMS if len(usable) > len(RULE_FORMS[form]) + 2]
    table = pd.DataFrame([{"form": f.form, "parameters": len(f.coefficients), "aicc": f.aicc, "loo_rms": f.loo_rms,
                           "residual_rms": f.residual_rms, "n_points": f.n_points,
                           **{f"coef {k}": v for k, v in f.coefficients.items()}} for f in fits])
    finite = [f for f in fits if math.isfinite(f.aicc)]
    best = min(finite, key=lambda f: f.aicc) if finite else None
    if not table.empty:
        table["chosen"] = table["form"] == (best.form if best else "")
    return best, table


def beta2_comparison(optima: pd.DataFrame) -> pd.DataFrame:
    """Per shape scanned at more than one beta2: each beta2's loss at its best rate, and the differences."""
    keys = [k for k in ("family", "n_layer", "d_model", "n_head", "d_ff", "tokens") if k in optima]
    rows = []
    for shape, group in optima[optima["bracketed"]].groupby(keys):
        if group["beta2"].nunique() < 2:
            continue
        ref = group.loc[group["beta2"].idxmin()]
        for _, other in group[group["beta2"] != ref["beta2"]].iterrows():
            rows.append({**dict(zip(keys, shape)), "beta2_ref": ref["beta2"], "beta2": other["beta2"],
                         "loss_ref": ref["loss_opt"], "loss": other["loss_opt"],
                         "difference": other["loss_opt"] - ref["loss_opt"],
                         "lr_ratio": other["lr_opt"] / ref["lr_opt"]})
    return pd.DataFrame(rows)


def chosen_beta2(comparison: pd.DataFrame, default: float) -> float:
    """The beta2 whose loss at the best rate is lower on every shape compared; `default` when nothing was
    compared or the shapes disagree (then the data do not choose)."""
    if comparison.empty or comparison["beta2"].nunique() != 1:
        return default
    if (comparison["difference"] < 0).all():
        return float(comparison["beta2"].iloc[0])
    if (comparison["difference"] > 0).all():
        return float(comparison["beta2_ref"].iloc[0])
    return default
