"""The learning-rate rule of train.lr_rule=calibrated seen from a sweep: where a plan extrapolates it, and
installing a freshly fitted rule (the lr_sweep preset) as configs/lr_calibration.yaml."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import List

from configs import calibration
from configs.calibration import load_lr_calibration
from harness.resolve import ResolvedRun

log = logging.getLogger("scalinglab")
FITTED_RULE = Path("analysis") / "lr_calibration.yaml"  # written by analysis/report_calibration.py


# How far a run's budget may be from the scans' budget before the plan says so: the best rate falls slowly
# with D (Bjorck et al. 2024), and the presets' trunks share one rate over budgets 16x apart.
CALIBRATION_TOKENS_RATIO = 16.0


def calibration_notes(runs: List[ResolvedRun]) -> List[str]:
    """Warnings for runs whose train.lr_rule=calibrated rate is extrapolated: shapes outside the scanned ranges,
    or settings other than those the rule was fitted for (configs/lr_calibration.yaml)."""
    calibrated = [r for r in runs if r.config.train.lr_rule == "calibrated"]
    if not calibrated:
        return []
    cal = load_lr_calibration()
    notes = set()
    for run in calibrated:
        outside = cal.outside(run.gpt.d_model, run.gpt.n_layer)
        settings = {"corpus": run.config.data.corpus, "vocab_size": run.gpt.vocab_size,
                    "batch_size": run.batch_size, "n_ctx": run.gpt.n_ctx, "schedule": run.config.train.schedule}
        differ = cal.differences(settings)
        fitted_tokens = float(cal.fitted_for.get("tokens", run.tokens))
        if not 1 / CALIBRATION_TOKENS_RATIO <= run.tokens / fitted_tokens <= CALIBRATION_TOKENS_RATIO:
            differ.append(f"tokens={run.tokens:.3g} (fitted at {fitted_tokens:.3g})")
        if outside or differ:
            notes.add(", ".join(outside + differ))
    return [f"train.lr_rule=calibrated extrapolates ({cal.path}, fitted by `{cal.command}`) for runs with "
            f"{note}" for note in sorted(notes)]


def install_calibration(results_dir: Path) -> int:
    """Copy results_dir's fitted rule to configs/lr_calibration.yaml; 1 (and an error) when there is none."""
    fitted = Path(results_dir) / FITTED_RULE
    if not fitted.is_file():
        log.error("sweep.install_calibration=true but the analysis wrote no %s (no rule could be fitted: see "
                  "its report)", fitted)
        return 1
    shutil.copyfile(fitted, calibration.CALIBRATION_FILE)
    calibration._load.cache_clear()
    log.info("installed %s as %s: train.lr_rule=calibrated now uses this rule (runs that use it get new ids)",
             fitted, calibration.CALIBRATION_FILE)
    return 0
