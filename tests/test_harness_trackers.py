"""Tracker sinks (logger=[tensorboard], logger=[mlflow], logger=[wandb]): what a run writes there reads back with its curve's
numbers; choosing one changes no run id; a missing package names the extra to install."""

import json
import math
import struct

import numpy as np
import pytest

import configs.logger
from configs.errors import ConfigError
from configs.logger import LoggerConfig, TensorBoardConfig
from harness import store
from harness.resolve import resolve
from harness.units import run_config as execute_config

pytestmark = pytest.mark.slow  # trains real (tiny) models
# W&B's offline run file (wandb/offline-run-*/run-<id>.wandb): a 7-byte header (':W&B', magic, version), then
# LevelDB's log format, as the LevelDB project documents it: 32 KiB blocks, 7-byte record headers.
WANDB_FILE_HEADER = 7
LOG_BLOCK = 32768
LOG_RECORD_HEADER = 7


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


def wandb_records(path):
    """The protobuf records of a W&B offline run file: LevelDB's log format (32 KiB blocks of records with a
    7-byte header: CRC, length, type full/first/middle/last) after W&B's 7-byte file header."""
    data, pos, pending = path.read_bytes(), WANDB_FILE_HEADER, b""
    while pos + LOG_RECORD_HEADER <= len(data):
        if LOG_BLOCK - pos % LOG_BLOCK < LOG_RECORD_HEADER:  # a block's tail too short for a header is padding
            pos += LOG_BLOCK - pos % LOG_BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + LOG_RECORD_HEADER])
        chunk, pos = data[pos + LOG_RECORD_HEADER:pos + LOG_RECORD_HEADER + length], pos + LOG_RECORD_HEADER + length
        if kind in (1, 4):
            yield pending + chunk
            pending = b""
        elif kind in (2, 3):
            pending += chunk


def test_wandb_offline_run_holds_the_curves_losses(run_config, tmp_path):
    pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
    run_id, curve = trained(run_config, tmp_path, "wandb")
    (path,) = tmp_path.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")
    history, runs = [], []
    for raw in wandb_records(path):
        record = pb.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
        elif record.WhichOneof("record_type") == "run":
            runs.append(record.run)
    assert {(r.run_id, r.run_group, r.display_name) for r in runs} == {(run_id, "tracked", run_id)}
    config = {item.key: json.loads(item.value_json) for r in runs for item in r.config.update}
    assert config["run_id"] == run_id and config["model.d_model"] == "32"
    history = [h for h in history if "tokens" in h]  # W&B adds a record of its own (runtime) at the end
    tested = [h for h in history if "test_loss" in h]
    assert [h["tokens"] for h in history] == curve["tokens"].tolist()
    np.testing.assert_allclose([h["train_loss"] for h in history], curve["train_loss"], rtol=1e-12)
    np.testing.assert_allclose([h["test_loss"] for h in tested], curve["test_loss"].dropna(), rtol=1e-12)


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
