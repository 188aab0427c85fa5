"""Experiment-tracker sinks (Hydra group `logger`, e.g. `logger=[tensorboard]`, `logger=[wandb,mlflow]`).

Each is optional, an extra of its own in pyproject.toml, and works offline: TensorBoard event files, an
MLflow local store and W&B's offline mode, all under the results folder. The group's files (configs/logger/*.yaml) fill `sweep.logger`,
which stays out of every run id: a tracker never changes a result.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Optional

from configs.errors import ConfigError

# The packages each sink needs (MLflow's SQLite store needs sqlalchemy and alembic), and the pyproject.toml
# extra that installs them.
SINK_PACKAGES = {
    "tensorboard": (("tensorboard",), "tensorboard"),
    "mlflow": (("mlflow", "sqlalchemy", "alembic"), "mlflow"),
    "wandb": (("wandb",), "wandb"),
}
WANDB_MODES = ("offline", "online")


@dataclass
class TensorBoardConfig:
    """TensorBoard event files: one folder per run under `log_dir/<preset>/`; `tensorboard --logdir` reads them."""

    log_dir: str = "${sweep.results_dir}/tensorboard"
    """Where the event files go (a run's folder is <log_dir>/<sweep.preset>/<run_id>)."""


@dataclass
class MLflowConfig:
    """An MLflow local store: one MLflow run per scalinglab run, in one experiment per sweep preset."""

    tracking_uri: str = "sqlite:///${sweep.results_dir}/mlflow.db"
    """MLflow's tracking URI; the default is a local SQLite store beside the results (no server, no network)."""
    experiment: str = "${sweep.preset}"
    """The experiment the runs are grouped in."""


@dataclass
class WandbConfig:
    """Weights & Biases: one W&B run per scalinglab run (its id is the run id), grouped by the sweep's preset."""

    project: str = "scalinglab"
    """The W&B project the runs go to."""
    dir: str = "${sweep.results_dir}"
    """W&B writes its runs under <dir>/wandb/ (offline: offline-run-*/, uploaded later by `wandb sync`)."""
    mode: str = "offline"
    """'offline' (default: nothing leaves the machine; `wandb sync <dir>/wandb/offline-run-*` uploads later) or
    'online' (needs a network and `wandb login`)."""

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise ConfigError("sweep.logger.wandb.mode", self.mode, f"must be one of {WANDB_MODES}")


@dataclass
class LoggerConfig:
    """The tracker sinks a run writes to; none by default."""

    tensorboard: Optional[TensorBoardConfig] = None
    """Set by `logger=[tensorboard]`."""
    mlflow: Optional[MLflowConfig] = None
    """Set by `logger=[mlflow]`."""
    wandb: Optional[WandbConfig] = None
    """Set by `logger=[wandb]`."""

    def __post_init__(self) -> None:
        for sink, (packages, extra) in SINK_PACKAGES.items():
            missing = [p for p in packages if importlib.util.find_spec(p) is None] if getattr(self, sink) else []
            if missing:
                raise ConfigError("logger", sink, f"needs the {missing[0]!r} package: pip install -e '.[{extra}]'")
