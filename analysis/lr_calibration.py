"""The learning-rate calibration of an `lr_sweep` results folder: optima, the chosen rule, the file it writes.

The file (lr_calibration.yaml in the results folder's analysis/ folder; `scripts/sweep.py sweep=lr_sweep` installs it as
configs/lr_calibration.yaml) is what `train.lr_rule=calibrated` reads (configs/calibration.py).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml

from analysis.lr_optimum import lr_optima, scan_points
from analysis.lr_rule import RuleFit, beta2_comparison, chosen_beta2, fit_lr_rule

CALIBRATION_COMMAND = "python scripts/sweep.py sweep=lr_sweep"
# Brown et al. 2020 (GPT-3) app. B: AdamW beta2 = 0.95, the default of configs/train.py, kept unless the scans
# show another value better on every shape compared.
REFERENCE_BETA2 = 0.95
# The settings of the scans the file records (the rule holds for them; configs/calibration.py reports others).
RECORDED_SETTINGS = ("corpus", "vocab_size", "batch_size", "n_ctx", "tokens", "schedule")


@dataclass
class Calibration:
    """Everything the report shows of a calibration, and the file's content."""

    optima: pd.DataFrame
    rules: pd.DataFrame
    rule: RuleFit | None
    beta2: pd.DataFrame
    recommended_beta2: float
    notes: list[str] = field(default_factory=list)


def calibrate(runs: pd.DataFrame, seed: int = 0) -> Calibration | None:
    """The calibration of `runs` (every run, diverged ones included), or None when they hold no rate scan."""
    optima = lr_optima(runs, seed)
    if optima.empty:
        return None
    rule, rules = fit_lr_rule(optima)
    comparison = beta2_comparison(optima)
    notes = [f"{int((~optima['bracketed']).sum())} of {len(optima)} scans have no bracketed optimum: "
             + "; ".join(f"{r.n_layer}x{r.d_model} beta2={r.beta2:g}: {r.message}"
                         for r in optima[~optima["bracketed"]].itertuples())] if (~optima["bracketed"]).any() else []
    return Calibration(optima, rules, rule, comparison, chosen_beta2(comparison, REFERENCE_BETA2), notes)


def _settings(runs: pd.DataFrame) -> dict:
    """The recorded settings of the scans, each a single value or the list of values found."""
    out = {}
    for name in RECORDED_SETTINGS:
        values = sorted(runs[name].dropna().unique().tolist())
        out[name] = values[0] if len(values) == 1 else values
    for name in ("d_model", "n_layer"):
        out[name] = [int(runs[name].min()), int(runs[name].max())]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in out.items()}


def calibration_file(cal: Calibration, runs: pd.DataFrame, date: dt.date | None = None) -> dict:
    """The content of lr_calibration.yaml: the rule (one intercept per beta2 scanned), provenance, optima."""
    rule = cal.rule
    levels = sorted(cal.optima.loc[cal.optima["bracketed"], "beta2"].unique())
    base = rule.coefficients["intercept"]
    intercepts = {float(b): base + rule.coefficients.get(f"beta2={b:g}", 0.0) for b in levels}
    features = {k: v for k, v in rule.coefficients.items() if k != "intercept" and not k.startswith("beta2=")}
    scanned = scan_points(runs)
    optima = [{"n_layer": int(r.n_layer), "d_model": int(r.d_model), "beta2": float(r.beta2),
               "lr_opt": _round(r.lr_opt), "lr_low": _round(r.lr_low), "lr_high": _round(r.lr_high),
               "loss_opt": _round(r.loss_opt)} for r in cal.optima[cal.optima["bracketed"]].itertuples()]
    return {
        "rule": {"form": rule.form, "coefficients": {k: _round(v) for k, v in features.items()},
                 "intercept_by_beta2": {b: _round(v) for b, v in intercepts.items()},
                 "loo_rms_ln_lr": _round(rule.loo_rms), "residual_rms_ln_lr": _round(rule.residual_rms),
                 "n_shapes": rule.n_points},
        "recommended_beta2": float(cal.recommended_beta2),
        "fitted_for": _settings(scanned),
        "command": CALIBRATION_COMMAND,
        "date": (date or dt.date.today()).isoformat(),
        "optima": optima,
    }


def _round(x: float) -> float:
    """Six significant digits: the file stays readable, and no rate moves by more than 1e-6 relative."""
    return float(f"{x:.6g}") if math.isfinite(x) else float("nan")


def calibration_yaml(content: dict) -> str:
    """The file's text, with a header that says what reads it and how to regenerate it."""
    header = ("# Learning-rate rule read by train.lr_rule=calibrated (configs/calibration.py):\n"
              "#   ln(peak lr) = intercept_by_beta2[train.beta2] + sum of coefficient * feature\n"
              "# (features ln_d_model, ln_n_layer, ln_params_non_embedding; docs/calibration.md).\n"
              f"# Written by `{CALIBRATION_COMMAND}` (analysis/lr_calibration.py); re-running it regenerates this file.\n")
    return header + yaml.safe_dump(content, sort_keys=False)


def rule_predictions(cal: Calibration) -> pd.DataFrame:
    """Each bracketed optimum beside the chosen rule's rate for its shape (the residual in ln rate)."""
    best = cal.optima[cal.optima["bracketed"]].reset_index(drop=True)
    if cal.rule is None or best.empty:
        return pd.DataFrame()
    return best.assign(lr_rule=np.exp(np.log(best["lr_opt"]) - np.asarray(cal.rule.residuals)))
