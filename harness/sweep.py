"""Sweep bookkeeping around Hydra: split the command line, validate the grid, launch, run one job.

scripts/sweep.py is the entry point; this module holds its logic so it can be tested.
The flow: compose the base config with the plain overrides, turn command-line sweep overrides
(`model.d_model=64,128`) into a one-grid preset, build and validate every point (nothing is
written if any is invalid), group them into units (a run, or a wsd trunk with its cooldown branches),
write the plan, then hand Hydra a multirun over `sweep.unit`, so whichever launcher is configured
(basic, joblib, submitit, ray) runs each pending unit, exactly as it was resolved at planning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import List

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict

from configs.errors import ConfigError
from configs.grid import sweep_axes_to_grid
from configs.run import CONFIG_DIR, composition_error
from harness.calibration import calibration_notes
from harness.failures import run_failed
from harness.plan import (EstimateBasis, PlannedRun, PlannedUnit, build_plan, estimate_seconds, format_plan,
                          plan_units)
from harness.plan_file import read_plan, sweep_progress, unit_of, write_plan
from harness.progress import sweep_bar
from harness.quarantine import check_results_folder
from harness.runner import RunResult, tidy_finished
from harness.trunk_runner import tidy_finished_trunk
from harness.trunks import is_pack
from harness.units import execute_unit

log = logging.getLogger("scalinglab")
SWEEP_CONFIG_NAME = "sweep_app"
MULTIRUN_FLAGS = ("-m", "--multirun")


@dataclass
class CommandLine:
    """The user's arguments, split: Hydra flags, plain overrides, and sweep axes (a command-line grid)."""

    flags: List[str] = field(default_factory=list)
    overrides: List[str] = field(default_factory=list)
    axes: List[str] = field(default_factory=list)


def split_command_line(argv: List[str]) -> CommandLine:
    """Separate `key=a,b` sweep overrides (which become a grid) from plain ones."""
    line = CommandLine()
    parser = OverridesParser.create()
    for arg in argv:
        if arg in MULTIRUN_FLAGS:
            continue  # every sweep is a multirun
        if arg.startswith("-"):
            line.flags.append(arg)
            continue
        (override,) = parser.parse_overrides([arg])
        is_axis = override.is_sweep_override() and not override.key_or_group.startswith("hydra")
        (line.axes if is_axis else line.overrides).append(arg)
    return line


# Launcher configs that our presets extend but that come from an optional extra (pyproject.toml).
OPTIONAL_PLUGINS = {"ray": "hydra/launcher=ray_local needs the ray extra: pip install -e '.[ray]'"}


def compose_base(line: CommandLine) -> DictConfig:
    """The sweep's base config: presets and plain overrides; a command-line grid replaces the preset's."""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name="sweep"):
            cfg = compose(SWEEP_CONFIG_NAME, overrides=line.overrides, return_hydra_config=True)
    except MissingConfigException as exc:  # an unknown preset or launcher: name the group and its options
        group, _, name = (exc.missing_cfg_file or "").rpartition("/")
        hint = f" ({OPTIONAL_PLUGINS[name]})" if group.endswith("launcher") and name in OPTIONAL_PLUGINS else ""
        options = sorted(exc.options or []) or sorted(f.stem for f in (CONFIG_DIR / group).glob("*.yaml"))
        raise ConfigError(group or "defaults", name, f"no such config; valid: {options}{hint}") from exc
    except ConfigCompositionException as exc:  # an unknown key or a mistyped value on the command line
        raise composition_error(exc, line.overrides) from exc
    grid = sweep_axes_to_grid(line.axes)
    if grid is not None:
        cfg.sweep.grids = [OmegaConf.structured(grid)]
        cfg.sweep.preset = "cli"
    return cfg


def plan_sweep(line: CommandLine) -> tuple[DictConfig, List[PlannedRun], int]:
    """Compose and validate every point: (task config, plan, jobs the launcher runs side by side).

    Raises ConfigError before anything is written, ResultsError for an unreadable run file in the folder.
    """
    cfg = compose_base(line)
    check_results_folder(cfg.sweep.results_dir, cfg.sweep.quarantine)  # before build_plan reads any result
    jobs = configured_jobs(cfg)
    with open_dict(cfg):
        cfg.pop("hydra")  # composed only to validate launcher choices; runs are built from the task config
    return cfg, build_plan(cfg, check_data=cfg.sweep.check_data), jobs


def print_plan(plan: List[PlannedRun], basis: EstimateBasis) -> None:
    """Log the plan table with the time estimate, and warn when a chosen tracker will not see finished runs."""
    log.info("sweep plan:\n%s", format_plan(plan, basis))
    for note in calibration_notes([p.run for p in plan]):
        log.warning("%s", note)
    done = sum(p.done for p in plan)
    logger = plan[0].run.config.sweep.logger if plan else None
    if done and logger is not None and any(getattr(logger, f.name) is not None for f in dataclasses.fields(logger)):
        log.warning("%d of %d runs are already finished and are not trained again, so they send nothing to the chosen "
                    "tracker: add sweep.force=true to train them again with it, or use a new sweep.results_dir",
                    done, len(plan))


def tidy_finished_runs(plan: List[PlannedRun]) -> None:
    """Remove checkpoints and claims that processes killed right after writing a result left behind
    (finished points are not launched, so their jobs cannot do it); for a trunk whose every budget is done,
    its checkpoint and claim too."""
    for planned in plan:
        if planned.done:
            tidy_finished(planned.run)
    for unit in plan_units(plan):
        if unit.unit.is_trunk and all(p.done for p in unit.members):
            tidy_finished_trunk(unit.unit.runs)


def hydra_arguments(line: CommandLine, cfg: DictConfig, plan: List[PlannedRun], basis: EstimateBasis,
                    jobs: int = 1) -> List[str]:
    """The argv for Hydra's multirun over the pending units of the written plan, in launch order."""
    units = plan_units(plan)
    pending = launch_order(units, [i for i, u in enumerate(units) if u.pending], jobs)
    estimates = [estimate_seconds(u.cost.flops, basis) for u in units]
    plan_file = write_plan(cfg.sweep.results_dir, [u.unit.runs for u in units], estimates,
                           [u.cost.flops for u in units], basis.peak_words)
    args = [*line.flags, "--multirun", *line.overrides, f"sweep.plan_file={plan_file}",
            f"sweep.unit={','.join(map(str, pending))}"]
    if line.axes:  # the jobs take their points from the plan, so the grid travels as the preset name only
        args.append("sweep.preset=cli")
    return args


# hydra-submitit-launcher's local launcher: submitit's LocalExecutor starts every job of the sweep at once.
SUBMITIT_LOCAL_TARGET = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def jobs_side_by_side(launcher) -> int:
    """Jobs a launcher config runs at once on one machine: joblib's n_jobs, cores / Ray's num_cpus per job, or
    for submitit_local, which starts every job together, at least as many as there are cores (1 thread each)."""
    if launcher is None:
        return 1
    if OmegaConf.select(launcher, "_target_", default=None) == SUBMITIT_LOCAL_TARGET:
        return os.cpu_count() or 1
    n_jobs = OmegaConf.select(launcher, "n_jobs", default=None)
    if isinstance(n_jobs, int) and n_jobs > 0:
        return n_jobs
    ray_cpus = OmegaConf.select(launcher, "ray.remote.num_cpus", default=None)
    if isinstance(ray_cpus, (int, float)) and ray_cpus > 0:
        return max(1, int((os.cpu_count() or 1) // ray_cpus))
    return 1


def configured_jobs(cfg: DictConfig) -> int:
    """Jobs the composed config's launcher runs side by side (1 for the basic and SLURM launchers)."""
    return jobs_side_by_side(OmegaConf.select(cfg, "hydra.launcher", default=None))


# The launch order's time model of a single-thread job's optimizer step: a fixed cost plus FLOPs at a rate,
# fitted to the default preset's units on the 2-core CPU (2026-12-02; docs/sweeps.md, Launchers): a 2 x 16 step
# took 47 ms at 2.9e8 FLOPs, a 4 x 96 step 191 ms at 6.9e9. Only the order depends on it, never a result.
STEP_FIXED_S = 0.041
STEP_FLOPS_PER_S = 4.6e10


def unit_seconds(unit: PlannedUnit) -> float:
    """Rough seconds a unit's pending training takes in one single-thread job (for the launch order only)."""
    cost = unit.cost
    steps = cost.trunk_steps + sum(p.run.cooldown_steps if unit.unit.is_trunk else p.run.steps
                                   for p in unit.members if not p.done)
    return steps * STEP_FIXED_S + cost.flops / STEP_FLOPS_PER_S


def launch_order(units: List[PlannedUnit], pending: List[int], n_jobs: int) -> List[int]:
    """Plan order when one job runs at a time (small models first: early results). With jobs side by
    side, longest first by estimated time (LPT scheduling, Graham 1969), so the sweep does not end with
    one unit training alone while the other workers idle. The time counts steps as well as FLOPs: the
    smallest models' steps cost far more than their FLOPs on a CPU (STEP_FIXED_S)."""
    if n_jobs <= 1:
        return pending
    return sorted(pending, key=lambda i: -unit_seconds(units[i]))


def parallel_jobs() -> int:
    """How many jobs the configured launcher runs side by side on this machine (for thread counts)."""
    return jobs_side_by_side(HydraConfig.get().launcher)


def run_job(cfg: DictConfig) -> List[RunResult]:
    """Body of one Hydra job: train its unit of the plan, as resolved there (finished runs are skipped)."""
    plan = read_plan(cfg.sweep.plan_file)
    runs = unit_of(plan, cfg.sweep.unit)
    first = runs[0]
    what = f"trunk {first.trunk_id[:8]} with {len(runs)} budgets" if first.trunk_id else f"run {first.run_id[:8]}"
    if is_pack(runs):
        what = f"pack of {len(runs)} runs {', '.join(r.run_id[:8] for r in runs)}"
    jobs = parallel_jobs()
    done, total, left = sweep_progress(plan, first.config.sweep.results_dir, jobs)
    log.info("[sweep: %d/%d runs done, %s] unit %d: %s (%s)", done, total, left, cfg.sweep.unit, what, first.grid)
    if jobs <= 1:  # one bar line per unit; workers side by side would draw over one another's lines
        sweep_bar(done, total, left)
    try:
        return execute_unit(runs, parallel_jobs=jobs, force=first.config.sweep.force)
    except OSError as exc:  # a file it could not write fails this unit alone; scripts/sweep.py counts its runs
        return [run_failed(run, exc) for run in runs]
