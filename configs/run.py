"""The top-level structured config of a run and of a sweep, registered in Hydra's ConfigStore."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

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
        raise config_error_of(exc) from exc


def _type_name(annotation: object) -> str:
    """'int', 'float', 'Optional[int]', 'List[str]': a field's type as a user would write its values."""
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _unknown_key_error(key: str, value: object, name: str, schema: object) -> ConfigError:
    fields = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []
    near = difflib.get_close_matches(name, fields, n=3)
    return ConfigError(key, value, f"no such key {name!r}; nearest valid keys: {near}" if near
                       else f"no such key {name!r}; valid keys: {fields}")


def config_error_of(exc: OmegaConfBaseException, override: str | None = None) -> ConfigError:
    """ConfigError from OmegaConf's error for one key: a wrong type names the expected type, an unknown key the
    nearest valid keys of its section (`override`, the command-line 'key=value' it came from, names both)."""
    key, schema = str(getattr(exc, "full_key", None) or "?"), getattr(exc, "object_type", None)
    name = key.rsplit(".", 1)[-1]
    if override is not None and isinstance(exc, (ConfigAttributeError, ConfigKeyError)):
        key, value = override.split("=", 1)
        return _unknown_key_error(key, value, name, schema)
    fields = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []
    if isinstance(exc, (ConfigAttributeError, ConfigKeyError)) and fields:
        return _unknown_key_error(key, getattr(exc, "value", None), name, schema)
    if isinstance(exc, ValidationError) and name in fields:
        expected = _type_name(typing.get_type_hints(schema)[name])
        return ConfigError(key, getattr(exc, "value", None), f"must be of type {expected}")
    return ConfigError(key, getattr(exc, "value", None), str(exc).splitlines()[0])


def composition_error(exc: Exception, overrides: list[str]) -> ConfigError:
    """ConfigError for Hydra's failure to apply command-line overrides: the key's own error where OmegaConf gave
    one (config_error_of), else Hydra's message with the overrides it was given."""
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        key = str(cause.full_key)
        matching = [o for o in overrides if o.lstrip("+~").split("=", 1)[0].startswith(key) and "=" in o]
        return config_error_of(cause, matching[0].lstrip("+~") if matching else None)
    return ConfigError("command line", " ".join(overrides), str(exc).replace("\n", " "))


def check_overrides(config_name: str, overrides: list[str]) -> None:
    """ConfigError naming the key, for a command-line override Hydra cannot apply (wrong type, unknown key)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    register()  # the yaml files name the schema
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        try:
            compose(config_name, overrides=overrides)
        except ConfigCompositionException as exc:
            raise composition_error(exc, overrides) from exc


# Hydra flags that choose another primary config: a command line holding one is left to Hydra unchecked.
CONFIG_CHOICE_FLAGS = ("-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir")


def check_command_line(config_name: str, argv: list[str]) -> None:
    """check_overrides on the plain `key=value` overrides of a Hydra command line; flags, sweeps (`a=1,2`) and
    what Hydra cannot parse are left to Hydra itself."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    if any(a.split("=", 1)[0] in CONFIG_CHOICE_FLAGS for a in argv):
        return
    parser, plain = OverridesParser.create(), []
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            (override,) = parser.parse_overrides([arg])
        except OverrideParseException:
            continue
        if not override.is_sweep_override():
            plain.append(arg)
    check_overrides(config_name, plain)
