"""Run a sweep: `python scripts/sweep.py` (Kaplan Figure 1 grid), `sweep=isoflop`, or a command-line grid
`python scripts/sweep.py model.d_model=64,128 model.n_layer=2,4 train.tokens=1e6,4e6`.

Every point is validated before anything runs; finished runs are skipped, interrupted ones resume.
Add `hydra/launcher=local_parallel` (joblib), `hydra/launcher=slurm` or `hydra/launcher=submitit_local`.
"""

import logging
import subprocess
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)
import hydra
from omegaconf import DictConfig

from configs.errors import ConfigError
from configs.run import register
from harness import store
from harness.failures import describe, report_outcome
from harness.plan import estimate_basis
from harness.calibration import install_calibration
from harness.sweep import (hydra_arguments, plan_sweep, print_plan, run_job, split_command_line,
                           tidy_finished_runs)

register()
log = logging.getLogger("scalinglab")


@hydra.main(config_path="../configs", config_name="sweep_app", version_base="1.3")
def job(cfg: DictConfig) -> None:
    run_job(cfg)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    line = split_command_line(sys.argv[1:])
    try:
        cfg, plan, jobs = plan_sweep(line)
    except (ConfigError, store.ResultsError) as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:  # e.g. sweep.quarantine=true on a folder it cannot write
        log.error("%s", describe(exc))
        return 1
    basis = estimate_basis(cfg.sweep.estimate_peak_flops, cfg.sweep.estimate_mfu)
    print_plan(plan, basis)
    if cfg.sweep.dry_run:
        return 0
    if any(not p.done for p in plan):  # with sweep.force no run counts as done
        try:
            tidy_finished_runs(plan)
            sys.argv = [sys.argv[0], *hydra_arguments(line, cfg, plan, basis, jobs)]
        except OSError as exc:  # the plan cannot be written (read-only folder, full disk): no run can start
            log.error("%s", describe(exc))
            return 1
        job()
    else:
        tidy_finished_runs(plan)
    results = Path(cfg.sweep.results_dir)
    if report_outcome(plan, results) != 0:  # some runs failed: the analysis waits for them
        return 1
    analyze = Path(__file__).with_name("analyze.py")
    if cfg.sweep.analyze and analyze.exists():
        code = subprocess.call([sys.executable, str(analyze), str(results)])
        if code == 0 and cfg.sweep.install_calibration:
            return install_calibration(results)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
