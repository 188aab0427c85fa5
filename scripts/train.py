"""Train one run: `python scripts/train.py model.d_model=128 model.n_layer=4 train.tokens=4e6`."""

import logging
import sys

import _bootstrap  # noqa: F401  (puts the repository on sys.path)
import hydra
from omegaconf import DictConfig

from configs.errors import ConfigError
from configs.run import check_command_line, register, to_run_config
from harness import store
from harness.failures import describe
from harness.quarantine import check_results_folder
from harness.units import run_config

register()
log = logging.getLogger("scalinglab")


@hydra.main(config_path="../configs", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run = to_run_config(cfg)
        check_results_folder(run.sweep.results_dir, run.sweep.quarantine)
        result = run_config(run)
    except (ConfigError, store.ResultsError) as exc:
        log.error("%s", exc)
        sys.exit(2)
    except OSError as exc:  # a file it could not write: named, with the cause
        log.error("%s", describe(exc))
        sys.exit(1)
    log.info("%s %s -> %s", result.action, result.run_id, result.path)


if __name__ == "__main__":
    try:  # Hydra's own message for a mistyped value or unknown key names neither the type nor the valid keys
        check_command_line("run", sys.argv[1:])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    main()
