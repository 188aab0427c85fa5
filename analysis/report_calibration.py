"""The report of a learning-rate calibration (the lr_sweep preset) and the file it writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.lr_calibration import Calibration, calibration_file, calibration_yaml
from analysis.plots_lr import plot_lr_scans
from analysis.report import Report

CALIBRATION_YAML = "lr_calibration.yaml"
OPTIMA_COLUMNS = ["n_layer", "d_model", "beta2", "params_non_embedding", "n_rates", "n_finite", "lowest_lr",
                  "lr_opt", "lr_low", "lr_high", "loss_opt", "boot_bracketed", "residual_sd", "message"]


def rule_text(cal: Calibration) -> str:
    """The chosen rule in words, with its error and the beta2 verdict."""
    if cal.rule is None:
        return "No rule: fewer bracketed optima than any form's parameters need."
    c = cal.rule.coefficients
    terms = " ".join(f"{'+' if v >= 0 else '−'} {abs(v):.3g}·{k}" for k, v in c.items() if k != "intercept")
    return (f"Chosen form (lowest AICc): {cal.rule.form}: ln(lr) = {c['intercept']:.4g} {terms}, over "
            f"{cal.rule.n_points} shapes; residual {np.expm1(cal.rule.residual_rms):.1%} and leave-one-shape-out "
            f"error {np.expm1(cal.rule.loo_rms):.1%} in rate. Recommended AdamW beta2: {cal.recommended_beta2:g}"
            " (lower loss at its best rate on every shape compared; otherwise the GPT-3 default 0.95 is kept).")


def calibration_section(report: Report, cal: Calibration) -> None:
    """Optima per shape, the candidate rules, the beta2 comparison."""
    report.heading("Learning-rate calibration")
    report.text("Each shape's best peak rate: the vertex of a parabola in ln(rate) through the lowest point and "
                "its neighbours, with a 95% parametric-bootstrap interval (docs/calibration.md).")
    report.table(cal.optima[[c for c in OPTIMA_COLUMNS if c in cal.optima]], "lr_optima")
    report.bullets(cal.notes)
    report.heading("Rule for the best rate", 3)
    report.text(rule_text(cal))
    report.table(cal.rules, "lr_rules")
    if not cal.beta2.empty:
        report.heading("AdamW beta2", 3)
        report.table(cal.beta2, "lr_beta2")


def write_calibration(cal: Calibration, runs: pd.DataFrame, out_dir: Path) -> Path | None:
    """out_dir/lr_calibration.yaml, when a rule was fitted."""
    if cal.rule is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CALIBRATION_YAML
    path.write_text(calibration_yaml(calibration_file(cal, runs)))
    return path


def build_calibration_report(cal: Calibration, runs: pd.DataFrame, out_dir: Path) -> tuple[Report, list[Path]]:
    """The report of a folder that holds only rate scans: the calibration, its figure and its file."""
    report = Report()
    report.heading("scalinglab learning-rate calibration", 1)
    report.text(f"{len(runs)} runs in {len(cal.optima)} rate scans; no scaling-law fits (every run is a point "
                "of a rate scan).")
    calibration_section(report, cal)
    png = plot_lr_scans(cal, runs, out_dir)
    report.heading("Figure")
    report.figure(png, "Final loss vs peak rate per shape and beta2 (stars: optima with 95% intervals); "
                       "the chosen rule's rate against each optimum")
    written = write_calibration(cal, runs, out_dir)
    report.text(f"Calibration file: {written} (install as configs/lr_calibration.yaml to use it with "
                "train.lr_rule=calibrated; `python scripts/sweep.py sweep=lr_sweep` does so)." if written
                else "No calibration file written: no rule was fitted.")
    return report, [png]
