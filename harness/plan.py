"""A sweep's plan: every grid point built, resolved and validated before the first run starts.

The plan is written (after validation only) to RESULTS_DIR/plans/<hash>.json; each launched job
reads its point from it, so every launcher (basic, joblib, submitit, ray) runs the same list.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List

import torch
from omegaconf import DictConfig

from configs.errors import ConfigError
from configs.grid import GridPoint, expand_sweep
from configs.run import RunConfig, to_run_config
from harness import store
from harness.data import PreparedData, TrainWindows, prepare_once, test_windows
from harness.device import matmul_flops_per_s
from harness.progress import format_duration
from harness.resolve import ResolvedRun, resolve
from models.flops import TRAIN_FLOPS_PER_TOKEN

PLANS_SUBDIR = "plans"
# Model-FLOPs utilisation assumed for the time estimate: a plain fp32 loop reached 41-67% of the
# matmul peak on the toy shapes (shared/NOTES.md); the lower end is used for a conservative estimate.
ASSUMED_MFU = 0.4
PEAK_PROBE_SIZE = 512  # square matmul used to measure the machine's fp32 peak for the estimate
PEAK_PROBE_MIN_TIME_S = 0.015  # per timing: about 10 products of 512 at ~180 GFLOP/s (2 cores)
PEAK_PROBE_TRIALS = 5  # best of several: the estimate should not swing with a passing load


@dataclass(frozen=True)
class PlannedRun:
    """One point of the sweep, resolved."""

    point: GridPoint
    run: ResolvedRun
    done: bool

    @property
    def train_flops(self) -> float:
        """Exact training FLOPs of the whole run (3 x the Hoffmann et al. app. F forward count)."""
        return self.run.tokens * TRAIN_FLOPS_PER_TOKEN["exact"](self.run.gpt)


def _with_point_context(exc: ConfigError, point: GridPoint) -> ConfigError:
    return ConfigError(exc.field, exc.value, f"{exc.allowed} (in grid point {point.describe()})")


def resolve_point(base: DictConfig, point: GridPoint) -> ResolvedRun:
    """Build and resolve one grid point; a bad value raises ConfigError naming the point and field."""
    try:
        cfg: RunConfig = to_run_config(base, point.overrides)
        return resolve(cfg, point.grid, point.compute_budget)
    except ConfigError as exc:
        raise _with_point_context(exc, point) from exc


def _check_data(runs: List[tuple]) -> None:
    """Data-dependent checks (D vs the train split, n_ctx vs documents), one data preparation per corpus."""
    prepared: dict = {}
    for point, run in runs:
        data = prepare_once(run.config.data, prepared)
        try:
            check_data_fits(run, data)
            check_same_data(run, data, run.config.sweep.force)
        except ConfigError as exc:
            raise _with_point_context(exc, point) from exc


def check_same_data(run: ResolvedRun, data: PreparedData, force: bool) -> None:
    """ConfigError when the results folder already holds this run trained on other data.

    The run id hashes the config, not the text: text files (or a dataset, or the stdlib of another Python)
    that changed under the same config would otherwise be skipped as done, or resumed from a checkpoint
    of the old text.
    """
    path = store.run_path(run.config.sweep.results_dir, run.run_id)
    if force or not path.exists():
        return
    recorded = store.read_metadata(path).get("corpus_fingerprint")
    if recorded != data.fingerprint:
        raise data_changed_error(run, "its result", str(recorded), data.fingerprint)


def data_changed_error(run: ResolvedRun, what: str, recorded: str, now: str) -> ConfigError:
    return ConfigError("sweep.results_dir", run.config.sweep.results_dir,
                       f"run {run.run_id[:8]}: {what} there comes from corpus {recorded[:12]}, but the "
                       f"{run.config.data.corpus} corpus now hashes to {now[:12]} (its text changed): use a "
                       "new sweep.results_dir, or sweep.force=true to re-train on the new text")


def check_data_fits(run: ResolvedRun, data: PreparedData) -> None:
    """ConfigError (model.n_ctx, train.tokens or data.test_windows) when the data cannot feed this run."""
    TrainWindows(data.train_tokens, run.gpt.n_ctx, run.batch_size, run.tokens, run.config.train.seed,
                 run.config.data.allow_repeat)
    test_windows(data, run.gpt.n_ctx, run.config.data.test_windows)


def build_plan(base: DictConfig, check_data: bool = True) -> List[PlannedRun]:
    """Resolve every point of the sweep described by `base`; nothing is written to the results folder."""
    sweep = to_run_config(base).sweep
    resolved = [(p, resolve_point(base, p)) for p in expand_sweep(sweep)]
    ids = [r.run_id for _, r in resolved]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ConfigError("sweep.grids", sorted(duplicates), "the grids contain the same run twice")
    if check_data:
        _check_data(resolved)
    return [PlannedRun(p, r, store.run_path(r.config.sweep.results_dir, r.run_id).exists()) for p, r in resolved]


def estimate_seconds(planned: PlannedRun, flops_per_s: float) -> float:
    """Rough training time of a run: its exact FLOPs at ASSUMED_MFU of the measured peak."""
    return planned.train_flops / (flops_per_s * ASSUMED_MFU)


def write_plan(results_dir: str, plan: List[PlannedRun], flops_per_s: float) -> Path:
    """Write the validated plan where every job can read it; the name is a hash of its points."""
    points = [{"grid": p.point.grid, "overrides": list(p.point.overrides),
               "compute_budget": None if math.isnan(p.point.compute_budget) else p.point.compute_budget,
               "run_id": p.run.run_id} for p in plan]
    name = hashlib.sha256(json.dumps(points, sort_keys=True).encode()).hexdigest()[:16]
    estimates = [estimate_seconds(p, flops_per_s) for p in plan]
    blob = json.dumps({"points": points, "estimated_s": estimates}, indent=1, sort_keys=True)
    path = (Path(results_dir) / PLANS_SUBDIR / f"{name}.json").resolve()
    store.atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(blob))
    return path


def read_plan(plan_file: str) -> dict:
    """A written plan: {'points': [...], 'estimated_s': [...]}."""
    return json.loads(Path(plan_file).read_text())


def point_of(plan: dict, index: int) -> tuple[GridPoint, str]:
    """The grid point at `index` of a plan, and the run id the plan expects for it."""
    entry = plan["points"][index]
    budget = math.nan if entry["compute_budget"] is None else float(entry["compute_budget"])
    return GridPoint(entry["grid"], tuple(entry["overrides"]), budget), entry["run_id"]


def sweep_progress(plan: dict, results_dir: str) -> str:
    """'7/19 runs done, about 6m10s of training left' from the result files present now."""
    done = [store.run_path(results_dir, p["run_id"]).exists() for p in plan["points"]]
    left = sum(est for est, d in zip(plan["estimated_s"], done) if not d)
    return f"{sum(done)}/{len(done)} runs done, about {format_duration(left)} of training left (estimate)"


def measure_matmul_flops() -> float:
    """fp32 matmul FLOP/s of this machine's CPU for the plan's time estimate (a fraction of a second)."""
    return matmul_flops_per_s(PEAK_PROBE_SIZE, torch.float32, torch.device("cpu"), PEAK_PROBE_TRIALS,
                              PEAK_PROBE_MIN_TIME_S)


def format_plan(plan: List[PlannedRun], flops_per_s: float) -> str:
    """The plan as a table: runs, N, D, C, estimated time, whether each is already done."""
    lines = [f"{'#':>3} {'grid':<10} {'L':>3} {'d':>4} {'N':>11} {'D':>9} {'C=6ND':>9} {'est':>7}  status"]
    total = 0.0
    for i, p in enumerate(plan):
        r = p.run
        est = 0.0 if p.done else estimate_seconds(p, flops_per_s)
        total += est
        lines.append(f"{i:>3} {r.grid:<10} {r.gpt.n_layer:>3} {r.gpt.d_model:>4} {r.params.non_embedding:>11,} "
                     f"{r.tokens:>9.2e} {6 * r.params.non_embedding * r.tokens:>9.2e} {format_duration(est):>7}  "
                     f"{'done' if p.done else 'pending'}")
    pending = sum(not p.done for p in plan)
    lines.append(f"{len(plan)} runs, {pending} to train, estimated {format_duration(total)} "
                 f"(at {ASSUMED_MFU:.0%} of a measured {flops_per_s / 1e9:.0f} GFLOP/s fp32 matmul peak, one process)")
    return "\n".join(lines)
