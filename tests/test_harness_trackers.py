"""Tracker sinks (logger=[tensorboard], logger=[mlflow]): what a run writes there reads back with its curve's
numbers; choosing one changes no run id; a missing package names the extra to install."""

import math

import numpy as np
import pytest

import configs.logger
from configs.errors import ConfigError
from configs.logger import LoggerConfig, TensorBoardConfig
from harness import store
from harness.resolve import resolve
from harness.units import run_config as execute_config

pytestmark = pytest.mark.slow  # trains real (tiny) models


def trained(run_config, results_dir, sink: str):
    """(run id, curve) of TINY_RUN trained once with `sink` chosen."""
    result = execute_config(run_config(results_dir, f"logger=[{sink}]", "sweep.preset=tracked"))
    curve, _ = store.read_run(result.path)
    return result.run_id, curve


def test_tensorboard_event_files_hold_the_curves_losses(run_config, tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    run_id, curve = trained(run_config, tmp_path, "tensorboard")
    events = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard" / "tracked" / run_id))
    events.Reload()
    train = events.Scalars("train_loss")
    assert [e.step for e in train] == curve["tokens"].tolist()
    np.testing.assert_allclose([e.value for e in train], curve["train_loss"], rtol=1e-6)  # float32 in the file
    tested = curve.dropna(subset=["test_loss"])
    by_compute = events.Scalars("test_loss_vs_compute")
    assert [e.step for e in by_compute] == [int(c) for c in tested["compute_exact"]]
    np.testing.assert_allclose([e.value for e in by_compute], tested["test_loss"], rtol=1e-6)
    assert {"lr", "tokens_per_s", "test_loss", "train_loss_vs_compute"} <= set(events.Tags()["scalars"])


def test_mlflow_local_store_holds_the_run_its_config_and_losses(run_config, tmp_path):
    tracking = pytest.importorskip("mlflow.tracking")
    run_id, curve = trained(run_config, tmp_path, "mlflow")
    client = tracking.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("tracked")
    (found,) = client.search_runs([experiment.experiment_id], f"tags.`scalinglab.run_id` = '{run_id}'")
    assert found.data.params["run_id"] == run_id and found.data.params["model.d_model"] == "32"
    history = client.get_metric_history(found.info.run_id, "test_loss")
    tested = curve.dropna(subset=["test_loss"])
    assert [m.step for m in history] == tested["tokens"].tolist()
    np.testing.assert_allclose([m.value for m in history], tested["test_loss"], rtol=1e-12)
    assert found.info.status == "FINISHED"


def test_choosing_a_tracker_changes_no_run_id(run_config, tmp_path):
    plain = resolve(run_config(tmp_path), "single", math.nan)
    tracked = resolve(run_config(tmp_path, "logger=[tensorboard]"), "single", math.nan)  # in the dev extra
    assert tracked.config.sweep.logger.tensorboard is not None
    assert tracked.run_id == plain.run_id


def test_a_missing_tracker_package_names_its_extra(monkeypatch):
    monkeypatch.setattr(configs.logger.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"logger='tensorboard': needs the 'tensorboard' package: "
                                          r"pip install -e '\.\[tensorboard\]'"):
        LoggerConfig(tensorboard=TensorBoardConfig())
