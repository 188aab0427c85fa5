"""The learning-rate calibration: optima of synthetic U-curves with a known minimum, the rule, the file."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.lr_calibration import calibrate, calibration_file, calibration_yaml
from analysis.lr_optimum import fit_lr_optimum
from analysis.lr_rule import fit_lr_rule
from configs.calibration import load_lr_calibration

GRID = 0.00075 * 2.0 ** np.arange(6)  # the lr_sweep preset's rates


def u_curve(lr, lr_opt, floor=4.0, curvature=0.08, skew=0.01):
    """A loss U-curve in ln(rate) with its minimum near lr_opt: a parabola plus a small cubic (steeper right)."""
    x = np.log(lr / lr_opt)
    return floor + curvature * x**2 + skew * x**3


def test_vertex_of_an_exact_parabola_is_its_minimum():
    fit = fit_lr_optimum(GRID, u_curve(GRID, 0.005, skew=0.0), np.full(6, 1e-3))
    assert fit["bracketed"]
    assert fit["lr_opt"] == pytest.approx(0.005, rel=1e-9)
    assert fit["loss_opt"] == pytest.approx(4.0, rel=1e-9)
    assert fit["lr_low"] < 0.005 < fit["lr_high"]


def test_skewed_curve_optimum_within_five_percent_and_interval_covers_it():
    lr_opt = 0.0042
    fit = fit_lr_optimum(GRID, u_curve(GRID, lr_opt), np.full(6, 2e-3), seed=1)
    assert fit["lr_opt"] == pytest.approx(lr_opt, rel=0.05)
    assert fit["lr_low"] < lr_opt < fit["lr_high"]
    assert fit["boot_bracketed"] > 0.95


def test_optimum_at_the_edge_is_not_bracketed():
    fit = fit_lr_optimum(GRID, u_curve(GRID, 0.05), np.full(6, 1e-3))
    assert not fit["bracketed"] and math.isnan(fit["lr_opt"])
    assert "edge" in fit["message"]


def test_diverged_rate_bounds_the_scan_but_is_no_point():
    loss = u_curve(GRID, 0.003)
    loss[-1] = np.inf
    fit = fit_lr_optimum(GRID, loss, np.full(6, 1e-3))
    assert fit["bracketed"] and fit["n_finite"] == 5
    assert fit["lr_opt"] == pytest.approx(0.003, rel=0.05)


def synthetic_runs(rule=lambda d, n_layer: 0.4 * d**-1.0 * n_layer**-0.2, beta2_shift=1.3, noise=0.0, seed=0):
    """Runs of an lr_sweep over 3 widths x 3 depths (+ beta2 0.99 at two shapes) with known best rates."""
    rng = np.random.default_rng(seed)
    rows = []
    shapes = [(d, n_layer, 0.95) for d in (32, 64, 128) for n_layer in (1, 2, 4)] + [(32, 2, 0.99), (128, 4, 0.99)]
    for d, n_layer, beta2 in shapes:
        best = rule(d, n_layer) * (beta2_shift if beta2 == 0.99 else 1.0)
        floor = 5.0 - 0.3 * math.log(d * n_layer) - (0.02 if beta2 == 0.99 else 0.0)
        for lr in GRID:
            rows.append({"run_id": f"{d}-{n_layer}-{beta2}-{lr}", "status": "completed", "family": "gpt2",
                         "n_layer": n_layer, "d_model": d, "n_head": d // 16, "d_ff": 4 * d, "n_ctx": 128,
                         "vocab_size": 1024, "batch_size": 16, "tokens": 499712, "schedule": "wsd", "corpus": "stdlib",
                         "lr": lr, "params_non_embedding": 12 * n_layer * d * d,
                         "final_test_loss": u_curve(lr, best, floor) + noise * rng.standard_normal(),
                         "final_test_loss_sem": 1e-3, "config_json": json.dumps({"train": {"beta2": beta2}})})
    return pd.DataFrame(rows)


def test_rule_recovers_known_width_and_depth_exponents_and_beta2_offset():
    cal = calibrate(synthetic_runs())
    assert cal.optima["bracketed"].all()
    assert cal.rule.form == "width+depth"
    c = cal.rule.coefficients
    assert c["ln_d_model"] == pytest.approx(-1.0, abs=0.05)
    assert c["ln_n_layer"] == pytest.approx(-0.2, abs=0.05)
    assert math.exp(c["beta2=0.99"]) == pytest.approx(1.3, rel=0.05)
    assert cal.recommended_beta2 == 0.99  # lower loss at its best rate on both shapes compared


def test_rule_chooses_width_alone_when_depth_does_not_matter():
    best, table = fit_lr_rule(calibrate(synthetic_runs(rule=lambda d, n_layer: 0.3 / d, noise=0.002)).optima)
    assert best.form in ("width", "N") or abs(best.coefficients.get("ln_n_layer", 0.0)) < 0.1
    assert set(table["form"]) == {"constant", "N", "width", "width+depth"}


def test_written_file_is_read_back_by_the_calibrated_rule(tmp_path):
    runs = synthetic_runs()
    cal = calibrate(runs)
    path = tmp_path / "lr_calibration.yaml"
    path.write_text(calibration_yaml(calibration_file(cal, runs)))
    read = load_lr_calibration(str(path))
    assert read.fitted_for["batch_size"] == 16 and read.fitted_for["d_model"] == [32, 128]
    for d, n_layer in ((32, 1), (64, 2), (128, 4)):
        assert read.peak_lr(d, n_layer, 12 * n_layer * d * d, 0.95) == pytest.approx(
            0.4 / d / n_layer**0.2, rel=0.05)
    assert read.peak_lr(128, 4, 1, 0.99) == pytest.approx(1.3 * 0.4 / 128 / 4**0.2, rel=0.05)
    assert read.outside(256, 4) == ["d_model=256 outside the scanned 32..128"]


def test_per_size_l_of_d_recovers_each_sizes_exponent_and_a_t_interval():
    from analysis.per_size import fit_l_of_d_per_size
    tokens = np.geomspace(1e5, 4e6, 5)
    rows = [{"n_layer": 2, "d_model": d, "family": "gpt2", "n_head": d // 16, "d_ff": 4 * d,
             "params_non_embedding": 12 * 2 * d * d, "tokens": t,
             "final_test_loss": (3e4 / t) ** alpha * np.exp(0.01 * (-1) ** k)}
            for d, alpha in ((32, 0.1), (64, 0.15)) for k, t in enumerate(tokens)]
    rows += [{**rows[0], "d_model": 128, "params_non_embedding": 12 * 2 * 128 * 128, "tokens": t}
             for t in tokens[:3]]  # three budgets: too few for a fit of its own
    table = fit_l_of_d_per_size(pd.DataFrame(rows))
    assert table["shape"].tolist() == ["2x32", "2x64"]
    for row, alpha in zip(table.itertuples(), (0.1, 0.15)):
        assert row.alpha_D == pytest.approx(alpha, abs=0.01)
        assert row.alpha_D_low < alpha < row.alpha_D_high
        assert row.n_budgets == 5 and 0.9 < row.r2_log < 1
    x = np.log(tokens)
    y = np.log(pd.DataFrame(rows[:5])["final_test_loss"].to_numpy())
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    se = np.sqrt(resid @ resid / 3 / ((x - x.mean()) @ (x - x.mean())))
    assert table["alpha_D_high"].iloc[0] - table["alpha_D"].iloc[0] == pytest.approx(3.182446 * se, rel=1e-5)
