"""The top-level structured config of a run and of a sweep, registered in Hydra's ConfigStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from configs.data import DataConfig
from configs.errors import ConfigError
from configs.model import ModelConfig
from configs.sweep import SweepConfig
from configs.train import TrainConfig

CONFIG_DIR = Path(__file__).resolve().parent


@dataclass
class RunConfig:
    """Everything one run (or one sweep) is made of."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def register() -> None:
    """Register the schema so the yaml files in configs/ are validated against it."""
    ConfigStore.instance().store(name="run_schema", node=RunConfig)


def to_run_config(cfg: DictConfig, overrides: Iterable[str] = ()) -> RunConfig:
    """Apply point overrides, then build the dataclasses, which validates every field (__post_init__)."""
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides))) if overrides else cfg
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError(str(key), getattr(exc, "value", None), str(exc).splitlines()[0]) from exc
