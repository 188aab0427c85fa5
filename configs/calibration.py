"""The fitted learning-rate rule that `train.lr_rule=calibrated` reads (configs/lr_calibration.yaml).

The file is written by the `lr_sweep` preset's analysis (analysis/lr_calibration.py) and committed; it
records the rule's form and constants, the AdamW beta2 values it was fitted at, and the command, corpus,
vocabulary, batch, context and budget of the scans (docs/calibration.md).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from configs.errors import ConfigError

CALIBRATION_FILE = Path(__file__).with_name("lr_calibration.yaml")
# The features a rule may use, by the name the file gives their coefficients.
RULE_FEATURES = ("ln_d_model", "ln_n_layer", "ln_params_non_embedding")
# beta2 values are compared after rounding: 0.99 read from yaml and from a config must be one value.
BETA2_DIGITS = 6


@dataclass(frozen=True)
class LRCalibration:
    """ln(peak lr) = intercept(beta2) + sum of coefficient * ln(feature), as fitted on the lr_sweep scans."""

    form: str
    coefficients: dict
    """Coefficient of each feature of RULE_FEATURES the form uses."""
    intercepts: dict
    """ln-rate intercept per AdamW beta2 the scans covered (rounded to BETA2_DIGITS)."""
    recommended_beta2: float
    fitted_for: dict
    """corpus, vocab_size, batch_size, n_ctx, tokens, schedule and the d_model / n_layer ranges scanned."""
    command: str
    path: str

    @property
    def fingerprint(self) -> str:
        """A hash of what decides the rates: part of the id of every run that uses the rule."""
        blob = json.dumps({"form": self.form, "coefficients": self.coefficients, "intercepts": self.intercepts},
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def peak_lr(self, d_model: int, n_layer: int, non_embedding: int, beta2: float) -> float:
        """The rule's rate for one shape at one beta2; ConfigError when the rule was not fitted at that beta2."""
        key = round(float(beta2), BETA2_DIGITS)
        if key not in self.intercepts:
            raise ConfigError("train.beta2", beta2, f"train.lr_rule=calibrated was fitted at beta2 in "
                              f"{sorted(self.intercepts)} ({self.path}); use one of them, or re-run "
                              f"`{self.command}` with a scan at this beta2")
        values = {"ln_d_model": math.log(d_model), "ln_n_layer": math.log(n_layer),
                  "ln_params_non_embedding": math.log(non_embedding)}
        return math.exp(self.intercepts[key] + sum(c * values[f] for f, c in self.coefficients.items()))

    def outside(self, d_model: int, n_layer: int) -> list[str]:
        """What of a shape lies outside the scanned ranges (the rule extrapolates there)."""
        out = []
        for name, value in (("d_model", d_model), ("n_layer", n_layer)):
            low, high = self.fitted_for[name]
            if not low <= value <= high:
                out.append(f"{name}={value} outside the scanned {low}..{high}")
        return out


    def differences(self, settings: dict) -> list[str]:
        """The recorded scan settings (corpus, vocab_size, batch_size, n_ctx, tokens, schedule) that `settings`
        differ from: the rule was not fitted for those."""
        return [f"{name}={settings[name]} (fitted at {self.fitted_for[name]})" for name in settings
                if name in self.fitted_for and settings[name] != self.fitted_for[name]]


def _invalid(path: Path, why: str) -> ConfigError:
    return ConfigError("train.lr_rule", "calibrated", f"{path}: {why}; re-run `python scripts/sweep.py "
                                                        "sweep=lr_sweep` to write it")


def load_lr_calibration(path: str | Path | None = None) -> LRCalibration:
    """The calibration file (CALIBRATION_FILE unless `path`), validated; ConfigError naming the file when it is
    missing or malformed. Read once per process and path."""
    return _load(str(path or CALIBRATION_FILE))


@lru_cache(maxsize=8)
def _load(path: str) -> LRCalibration:
    file = Path(path)
    if not file.is_file():
        raise _invalid(file, "no such file")
    raw = yaml.safe_load(file.read_text())
    try:
        rule, fitted = raw["rule"], raw["fitted_for"]
        coefficients = {k: float(v) for k, v in rule["coefficients"].items()}
        intercepts = {round(float(b), BETA2_DIGITS): float(v) for b, v in rule["intercept_by_beta2"].items()}
        cal = LRCalibration(str(rule["form"]), coefficients, intercepts, float(raw["recommended_beta2"]),
                            dict(fitted), str(raw["command"]), str(file))
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid(file, f"malformed ({exc!r})") from exc
    unknown = set(coefficients) - set(RULE_FEATURES)
    if unknown:
        raise _invalid(file, f"unknown features {sorted(unknown)} (known: {RULE_FEATURES})")
    return cal
