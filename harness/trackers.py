"""Experiment-tracker sinks: every curve row of a run into TensorBoard, MLflow and/or W&B (configs/logger.py).

One tracker run per scalinglab run, named by its run id and grouped by the sweep's preset; a resumed run
writes on into the same TensorBoard folder and the same MLflow run. Per row: train and test loss against
tokens and against exact compute, the learning rate and tokens/s; the resolved config and the run id as
hyperparameters. The packages are imported only when a sink is chosen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable, List

from harness.resolve import ResolvedRun

COMPUTE_COLUMN = "compute_exact"  # the compute axis of the loss curves (Hoffmann 2022 app. F count)


def flat_config(run: ResolvedRun) -> dict:
    """The run id and every resolved config value as 'section.field' -> str, for hyperparameter tables."""
    flat = {"run_id": run.run_id, "grid": run.grid, "n_head": str(run.gpt.n_head), "d_ff": str(run.gpt.d_ff),
            "peak_lr": str(run.peak_lr), "batch_size": str(run.batch_size), "steps": str(run.steps)}
    for section, values in dataclasses.asdict(run.config).items():
        for name, value in values.items():
            nested = isinstance(value, (dict, list))
            flat[f"{section}.{name}"] = json.dumps(value, default=str) if nested else str(value)
    return flat


def row_scalars(row: dict) -> List[tuple]:
    """(tag, value, step) of one curve row: losses against tokens and against compute, lr, tokens/s."""
    tokens, compute = int(row["tokens"]), int(row[COMPUTE_COLUMN])
    scalars = [("train_loss", row["train_loss"], tokens), ("train_loss_vs_compute", row["train_loss"], compute),
               ("lr", row["lr"], tokens)]
    if row["elapsed_s"] > 0:
        scalars.append(("tokens_per_s", row["tokens"] / row["elapsed_s"], tokens))
    if math.isfinite(row["test_loss"]):
        scalars += [("test_loss", row["test_loss"], tokens), ("test_loss_vs_compute", row["test_loss"], compute)]
    return scalars


class TensorBoardSink:
    """Event files in <log_dir>/<preset>/<run_id>: scalars per row, the config as text and hyperparameters."""

    def __init__(self, cfg, run: ResolvedRun):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.writer = SummaryWriter(log_dir=str(Path(cfg.log_dir) / run.config.sweep.preset / run.run_id))
        self.writer.add_text("config", json.dumps(flat_config(run), indent=1, sort_keys=True))

    def __call__(self, row: dict) -> None:
        for tag, value, step in row_scalars(row):
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


class MLflowSink:
    """One MLflow run per scalinglab run (tag scalinglab.run_id) in the experiment named by the config."""

    def __init__(self, cfg, run: ResolvedRun):
        from mlflow.entities import Param  # needs the mlflow extra
        from mlflow.tracking import MlflowClient

        if cfg.tracking_uri.startswith("sqlite:///"):  # SQLite makes the file, not the folder it lives in
            Path(cfg.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=cfg.tracking_uri)
        found = self.client.get_experiment_by_name(cfg.experiment)
        experiment = found.experiment_id if found else self.client.create_experiment(cfg.experiment)
        earlier = self.client.search_runs([experiment], f"tags.`scalinglab.run_id` = '{run.run_id}'")
        if earlier:  # a resumed run goes on in the MLflow run it started
            self.run_id = earlier[0].info.run_id
        else:
            self.run_id = self.client.create_run(experiment, run_name=run.run_id,
                                                 tags={"scalinglab.run_id": run.run_id}).info.run_id
            params = [Param(k, v) for k, v in sorted(flat_config(run).items())]
            self.client.log_batch(self.run_id, params=params)

    def __call__(self, row: dict) -> None:
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(t, v, now_ms, s) for t, v, s in row_scalars(row)])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbSink:
    """One W&B run per scalinglab run (W&B id = run id, so a resumed run goes on in it), grouped by the preset,
    offline unless the config says online; losses, lr and tokens/s logged against `tokens` (and `compute`)."""

    def __init__(self, cfg, run: ResolvedRun):
        import wandb  # needs the wandb extra

        Path(cfg.dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=cfg.project, group=run.config.sweep.preset, name=run.run_id, id=run.run_id,
                              dir=cfg.dir, mode=cfg.mode, resume="allow", config=flat_config(run))
        self.run.define_metric("tokens")
        self.run.define_metric("*", step_metric="tokens")

    def __call__(self, row: dict) -> None:
        values = {tag: value for tag, value, _ in row_scalars(row) if not tag.endswith("_vs_compute")}
        self.run.log({**values, "tokens": int(row["tokens"]), "compute": float(row[COMPUTE_COLUMN])})

    def close(self) -> None:
        self.run.finish()


def open_sinks(run: ResolvedRun) -> list:
    """The sinks `run.config.sweep.logger` chooses, opened for this run."""
    chosen = run.config.sweep.logger
    sinks = []
    if chosen.tensorboard is not None:
        sinks.append(TensorBoardSink(chosen.tensorboard, run))
    if chosen.mlflow is not None:
        sinks.append(MLflowSink(chosen.mlflow, run))
    if chosen.wandb is not None:
        sinks.append(WandbSink(chosen.wandb, run))
    return sinks


def fan_out(*receivers: Callable[[dict], None]) -> Callable[[dict], None]:
    """One row callback that hands each row to every receiver in turn."""
    def on_row(row: dict) -> None:
        for receive in receivers:
            receive(row)
    return on_row
