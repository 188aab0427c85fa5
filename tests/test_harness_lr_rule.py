"""train.lr_rule=calibrated: rates from the calibration file, its fingerprint in the run id, its warnings."""
import math

import pytest
import yaml

from configs import calibration
from configs.errors import ConfigError
from harness.calibration import calibration_notes, install_calibration
from harness.resolve import resolve

RULE = {"rule": {"form": "width+depth", "coefficients": {"ln_d_model": -1.0, "ln_n_layer": -0.25},
                 "intercept_by_beta2": {0.95: math.log(0.2), 0.99: math.log(0.3)}},
        "recommended_beta2": 0.99,
        "fitted_for": {"corpus": "stdlib", "vocab_size": 384, "batch_size": 4, "n_ctx": 32, "tokens": 2048,
                       "schedule": "cosine", "d_model": [16, 32], "n_layer": [1, 2]},
        "command": "python scripts/sweep.py sweep=lr_sweep"}


@pytest.fixture
def rule_file(tmp_path, monkeypatch):
    """A calibration file at a temporary path, installed as the one train.lr_rule=calibrated reads."""
    def _write(content=RULE):
        path = tmp_path / "lr_calibration.yaml"
        path.write_text(yaml.safe_dump(content))
        calibration._load.cache_clear()
        return path

    monkeypatch.setattr(calibration, "CALIBRATION_FILE", tmp_path / "lr_calibration.yaml")
    yield _write
    calibration._load.cache_clear()


def test_calibrated_rate_is_the_rule_at_the_shape_and_beta2(rule_file, run_config, tmp_path):
    rule_file()
    for beta2, intercept in ((0.95, 0.2), (0.99, 0.3)):
        run = resolve(run_config(tmp_path, "train.lr_rule=calibrated", f"train.beta2={beta2}"))
        expected = intercept / run.gpt.d_model / run.gpt.n_layer ** 0.25
        assert run.peak_lr == pytest.approx(expected, rel=1e-12)


def test_a_beta2_the_rule_was_not_fitted_at_names_the_field(rule_file, run_config, tmp_path):
    rule_file()
    with pytest.raises(ConfigError, match=r"train.beta2=0.9: .*fitted at beta2 in \[0.95, 0.99\]"):
        resolve(run_config(tmp_path, "train.lr_rule=calibrated", "train.beta2=0.9"))


def test_a_refitted_rule_gives_new_run_ids_and_the_same_rule_the_same(rule_file, run_config, tmp_path):
    rule_file()
    cfg = run_config(tmp_path, "train.lr_rule=calibrated")
    first, again = resolve(cfg).run_id, resolve(cfg).run_id
    refitted = {**RULE, "rule": {**RULE["rule"], "coefficients": {"ln_d_model": -0.9, "ln_n_layer": -0.25}}}
    rule_file(refitted)
    assert first == again != resolve(cfg).run_id
    assert resolve(run_config(tmp_path, "train.lr_rule=kaplan")).run_id != first


def test_a_missing_file_says_how_to_write_it(rule_file, run_config, tmp_path):
    with pytest.raises(ConfigError, match=r"train.lr_rule='calibrated': .*no such file; re-run `python "
                                          r"scripts/sweep.py sweep=lr_sweep`"):
        resolve(run_config(tmp_path, "train.lr_rule=calibrated"))


def test_the_plan_names_what_the_rule_extrapolates(rule_file, run_config, tmp_path):
    rule_file()
    runs = [resolve(run_config(tmp_path, "train.lr_rule=calibrated", *extra))
            for extra in ((), ("model.d_model=64",), ("model.d_model=64",))]
    notes = calibration_notes(runs)
    assert len(notes) == 2  # one per distinct reason, not one per run
    assert any("d_model=64 outside the scanned 16..32" in n for n in notes)
    assert all("fitted by `python scripts/sweep.py sweep=lr_sweep`" in n for n in notes)
    assert calibration_notes([resolve(run_config(tmp_path))]) == []


def test_install_copies_the_fitted_rule_and_the_next_read_uses_it(rule_file, tmp_path):
    results = tmp_path / "results"
    (results / "analysis").mkdir(parents=True)
    (results / "analysis" / "lr_calibration.yaml").write_text(yaml.safe_dump(RULE))
    assert install_calibration(results) == 0
    assert calibration.load_lr_calibration().recommended_beta2 == 0.99
    assert install_calibration(tmp_path / "empty") == 1
