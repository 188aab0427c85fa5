"""Train one run: `python scripts/train.py model.d_model=128 model.n_layer=4 train.tokens=4e6`."""

import logging
import sys

import _bootstrap  # noqa: F401  (puts the repository on sys.path)
import hydra
from omegaconf import DictConfig

from configs.errors import ConfigError
from configs.run import register, to_run_config
from harness.units import run_config

register()
log = logging.getLogger("scalinglab")


@hydra.main(config_path="../configs", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        result = run_config(to_run_config(cfg))
    except ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    log.info("%s %s -> %s", result.action, result.run_id, result.path)


if __name__ == "__main__":
    main()
