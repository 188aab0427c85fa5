"""Sweep config (a Hydra structured config): the grids of a preset, seeds, where results go."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

from configs.errors import ConfigError
from configs.logger import LoggerConfig

# Model-FLOPs utilisation the plan's first time estimate assumes, before any run has finished: a plain fp32
# loop runs the default sweep's large shapes at 53-68% of the CPU's matmul peak (docs/speed.md); 0.4 is
# conservative there, and is the utilisation the GPU preset is sized at (configs/sweep/kaplan_fig1_gpu.yaml).
ASSUMED_MFU = 0.4
# Packed runs (harness/packing.py; docs/speed.md, "Packed runs"), from scripts/bench_pack.py on a 2-core CPU
# (2026-12-02): packs of 2 to 8 gained 1.0-1.3x on every shape measured, packs of 16 lost on 2 of 4 shapes; the
# measured shapes (1 x 16 to 2 x 32 of the default sweep) cost 4.9e8 to 1.3e9 exact training FLOPs per step, the
# next one (4 x 32, 1.8e9) was not measured, so the threshold stops between them.
PACK_MAX = 8
PACK_BELOW_FLOPS_PER_STEP = 1.5e9


@dataclass
class GridConfig:
    """One grid of a preset: a Cartesian product of axes, plus explicit points, optionally per compute budget."""

    name: str = "grid"
    """Label recorded on every run of the grid (the analysis selects e.g. 'n_grid', 'd_grid', 'isoflop', 'arch_shape')."""
    axes: List[str] = field(default_factory=list)
    """Hydra sweep overrides whose product makes the grid, e.g. ['model.d_model=64,128', 'model.n_layer=2,4']."""
    points: List[str] = field(default_factory=list)
    """Explicit points, each a space-separated override list, e.g. 'model.d_model=256 model.n_layer=1'."""
    compute_budgets: List[float] = field(default_factory=list)
    """IsoFLOP budgets C (FLOPs): each point is run at each budget with train.tokens = C / (6 N)."""

    def __post_init__(self) -> None:
        for budget in self.compute_budgets:
            if not (math.isfinite(budget) and budget > 0):
                raise ConfigError(f"sweep.grids[{self.name}].compute_budgets", budget, "must be finite and > 0")


@dataclass
class SweepConfig:
    """What to run and where the results go."""

    preset: str = "single"
    """Name of the preset (set by the preset yaml); recorded on every run."""
    grids: List[GridConfig] = field(default_factory=list)
    """The grids; an empty list means the single run described by the rest of the config."""
    seeds: Optional[List[int]] = None
    """Every grid point is trained once per seed (replicates measure run-to-run noise); None trains each
    point once with train.seed, so `train.seed=5` on the command line holds for a sweep too."""
    results_dir: str = "results/${sweep.preset}"
    """One folder per sweep: runs/*.parquet, checkpoints/, analysis/. Nothing else is read by the analysis."""
    dry_run: bool = False
    """Print the plan (runs, N, D, C, estimated time) and exit without training."""
    check_data: bool = True
    """Prepare the data at planning and check that every run fits it (D against the train split, n_ctx against
    the test windows, the text of earlier results). `false` is allowed with dry_run only: it prints the plan of
    a sweep whose dataset this machine has not downloaded (or cannot reach) without preparing it."""
    estimate_peak_flops: Optional[float] = None
    """Peak FLOP/s of the device the plan's time estimate is for, e.g. 989.4e12 for an H100 SXM's dense bf16
    peak (harness/bench/datasheet.py lists the datasheet figures). None measures this machine's CPU fp32 matmul
    peak at planning (a fraction of a second): the estimate is then for the machine that plans."""
    estimate_mfu: float = ASSUMED_MFU
    """Share of that peak training is assumed to sustain (model-FLOPs utilisation by the exact count, in (0, 1]):
    the estimate is exact training FLOPs / (peak * estimate_mfu)."""
    force: bool = False
    """Re-train runs whose results already exist."""
    quarantine: bool = False
    """Move unreadable or foreign run files of results_dir to results_dir/quarantine/runs/ (never deleted) and
    train their runs again; without it such a file stops the sweep at planning, naming it."""
    analyze: bool = True
    """Run the analysis stage on the results folder after the sweep."""
    install_calibration: bool = False
    """After the analysis, copy the learning-rate rule it fitted (lr_calibration.yaml in its report folder) to
    configs/lr_calibration.yaml, which train.lr_rule=calibrated reads. Set by the lr_sweep preset."""
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    """Experiment trackers each run also writes to, chosen with the Hydra group: `logger=[tensorboard,mlflow]`."""
    pack: bool = True
    """Train runs that differ only in seed, peak learning rate or AdamW beta2 (seed replicates, learning-rate
    points) and share a small shape as one batched model, each still its own run: its own result, checkpoint
    and claim (harness/packing.py; docs/sweeps.md, "Packed runs"). false trains every run alone."""
    pack_max: int = PACK_MAX
    """The most runs in one pack; more compatible runs make several packs of even size."""
    pack_below_flops_per_step: float = PACK_BELOW_FLOPS_PER_STEP
    """Runs pack only when one optimizer step of one run costs fewer exact training FLOPs than this (larger
    shapes keep the CPU busy alone, so packing gains nothing there; docs/speed.md)."""
    plan_file: Optional[str] = None
    """Set by scripts/sweep.py for its jobs: the validated plan this job reads its unit from."""
    unit: Optional[int] = None
    """Set by scripts/sweep.py for its jobs: which unit of the plan (a run, or a trunk with its branches) this
    job trains."""

    def __post_init__(self) -> None:
        if self.seeds is not None and not self.seeds:
            raise ConfigError("sweep.seeds", self.seeds, "must list at least one seed, or be null for train.seed")
        if not self.check_data and not self.dry_run:
            raise ConfigError("sweep.check_data", self.check_data,
                              "false is allowed only with sweep.dry_run=true: a sweep that trains checks its data first")
        peak = self.estimate_peak_flops
        if peak is not None and not (math.isfinite(peak) and peak > 0):
            raise ConfigError("sweep.estimate_peak_flops", peak, "must be a finite FLOP/s > 0 (e.g. 989.4e12), or null "
                              "to measure this machine's peak")
        if not (math.isfinite(self.estimate_mfu) and 0 < self.estimate_mfu <= 1):
            raise ConfigError("sweep.estimate_mfu", self.estimate_mfu, "must be in (0, 1]")
        if self.pack_max < 1:
            raise ConfigError("sweep.pack_max", self.pack_max, "must be >= 1 (1 packs nothing)")
        if not (math.isfinite(self.pack_below_flops_per_step) and self.pack_below_flops_per_step > 0):
            raise ConfigError("sweep.pack_below_flops_per_step", self.pack_below_flops_per_step,
                              "must be finite and > 0")
        names = [g.name for g in self.grids]
        if len(set(names)) != len(names):
            raise ConfigError("sweep.grids", names, "grid names must be unique")
