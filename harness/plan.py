"""A sweep's plan: every grid point built, resolved and validated before the first run starts, and grouped
into units (a run, or a trunk with its cooldown branches) with what each costs.

The plan is written (after validation only) by harness/plan_file.py; each launched job reads its
unit from it, so every launcher (basic, joblib, submitit, ray) runs the same units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

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
from harness.packing import form_packs
from harness.trunks import Unit, UnitCost, group_units, kept_steps, trunk_checkpoint_path, unit_cost
from models.flops import TRAIN_FLOPS_PER_TOKEN

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


@dataclass(frozen=True)
class PlannedUnit:
    """What one job trains, with the planned runs in it and the FLOPs of what is left to train."""

    unit: Unit
    members: List[PlannedRun]
    cost: UnitCost

    @property
    def pending(self) -> bool:
        """Whether any run of the unit is still to train (with sweep.force no run is done)."""
        return any(not p.done for p in self.members)


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
    group_units([r for _, r in resolved])  # one clear error when runs that share a trunk id could not share it
    if check_data:
        _check_data(resolved)
    # with sweep.force every run is to train again, so none counts as done
    return [PlannedRun(p, r, store.run_path(r.config.sweep.results_dir, r.run_id).exists() and not r.config.sweep.force)
            for p, r in resolved]


@dataclass(frozen=True)
class EstimateBasis:
    """What the plan's time estimate assumes: a peak FLOP/s, the share of it training sustains, and whether the
    peak was measured on this machine or stated for another device (sweep.estimate_peak_flops)."""

    peak_flops_per_s: float
    mfu: float
    measured: bool

    @property
    def peak_words(self) -> str:
        """'the measured matmul peak' or 'a stated peak of 989.4 TFLOP/s' (the sweep line's "estimated from ...")."""
        return "the measured matmul peak" if self.measured else f"a stated peak of {format_flops(self.peak_flops_per_s)}"

    def describe(self) -> str:
        """'at 40% of a measured 185 GFLOP/s fp32 matmul peak, one process' (or of a stated peak)."""
        if self.measured:
            return f"at {self.mfu:.0%} of a measured {format_flops(self.peak_flops_per_s)} fp32 matmul peak, one process"
        return f"at {self.mfu:.0%} of a stated {format_flops(self.peak_flops_per_s)} peak, one process"


def format_flops(flops_per_s: float) -> str:
    """'989.4 TFLOP/s' from 1e12 up, '185 GFLOP/s' below."""
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.1f} TFLOP/s"
    return f"{flops_per_s / 1e9:.0f} GFLOP/s"


def estimate_basis(peak_flops_per_s: Optional[float], mfu: float) -> EstimateBasis:
    """The basis of sweep.estimate_peak_flops and sweep.estimate_mfu: the stated peak, or (None) this CPU's, measured now."""
    if peak_flops_per_s is None:
        return EstimateBasis(measure_matmul_flops(), mfu, measured=True)
    return EstimateBasis(float(peak_flops_per_s), mfu, measured=False)


def estimate_seconds(flops: float, basis: EstimateBasis) -> float:
    """Rough training time of `flops` exact training FLOPs: flops / (peak * mfu)."""
    return flops / (basis.peak_flops_per_s * basis.mfu)


def plan_units(plan: List[PlannedRun]) -> List[PlannedUnit]:
    """The plan's runs grouped into what one job trains (harness.trunks.group_units), with what is left to train."""
    by_id = {p.run.run_id: p for p in plan}
    units = []
    for unit in group_units([p.run for p in plan]):
        members = [by_id[r.run_id] for r in unit.runs]
        kept = kept_steps(unit.runs[0].config.sweep.results_dir, unit.trunk_id) if unit.is_trunk else []
        kept = [] if unit.runs[0].config.sweep.force else kept  # sweep.force drops a trunk's kept states
        units.append(PlannedUnit(unit, members, unit_cost(unit, [not p.done for p in members], kept)))
    sweep = plan[0].run.config.sweep if plan else None
    return pack_units(units, sweep.pack_max, sweep.pack_below_flops_per_step) if sweep and sweep.pack else units


def may_pack(planned: PlannedUnit) -> bool:
    """A pending unit of one run, a cosine run or a wsd trunk of one budget with no saved trunk state (a kept
    state would let its trunk start part-way; a pack trains its runs whole, from step 0 or their checkpoints)."""
    unit = planned.unit
    if len(unit.runs) != 1 or not planned.pending:
        return False
    if not unit.is_trunk:
        return True
    results_dir = unit.runs[0].config.sweep.results_dir
    return not kept_steps(results_dir, unit.trunk_id) and not trunk_checkpoint_path(results_dir, unit.trunk_id).exists()


def pack_units(units: List[PlannedUnit], pack_max: int, below_flops_per_step: float) -> List[PlannedUnit]:
    """The units with pending single runs that can share a pack (harness.packing.form_packs) merged into packs,
    each where its first run was."""
    candidates = [k for k, u in enumerate(units) if may_pack(u)]
    groups = form_packs([units[k].unit.runs[0] for k in candidates], pack_max, below_flops_per_step)
    merged, absorbed = {}, set()
    for group in (g for g in groups if len(g) > 1):
        ks = [candidates[i] for i in group]
        flops = sum(units[k].cost.flops for k in ks)
        merged[ks[0]] = PlannedUnit(Unit(tuple(units[k].unit.runs[0] for k in ks)),
                                    [units[k].members[0] for k in ks],
                                    UnitCost(flops, sum(units[k].cost.separate_flops for k in ks), 0, 0))
        absorbed |= set(ks[1:])
    return [merged.get(k, u) for k, u in enumerate(units) if k not in absorbed]


def measure_matmul_flops() -> float:
    """fp32 matmul FLOP/s of this machine's CPU for the plan's time estimate (a fraction of a second)."""
    return matmul_flops_per_s(PEAK_PROBE_SIZE, torch.float32, torch.device("cpu"), PEAK_PROBE_TRIALS,
                              PEAK_PROBE_MIN_TIME_S)


def format_plan(plan: List[PlannedRun], basis: EstimateBasis) -> str:
    """The plan as a table: runs, N, D, C, schedule, estimated time, whether each is done; then each trunk's cost."""
    units = plan_units(plan)
    g = max([10] + [len(p.run.grid) for p in plan])  # the grid column fits the longest grid name
    lines = [f"{'#':>3} {'grid':<{g}} {'family':<6} {'L':>3} {'d':>4} {'N':>11} {'D':>9} {'C=6ND':>9} {'sched':<12}  "
             "status"]
    for i, p in enumerate(plan):
        r = p.run
        sched = f"wsd@{r.fork_step}" if r.trunk_id else "cosine"
        lines.append(f"{i:>3} {r.grid:<{g}} {r.gpt.family:<6} {r.gpt.n_layer:>3} {r.gpt.d_model:>4} {r.params.non_embedding:>11,} "
                     f"{r.tokens:>9.2e} {6 * r.params.non_embedding * r.tokens:>9.2e} {sched:<12}  "
                     f"{'done' if p.done else 'pending'}")
    lines += [format_trunk(u) for u in units if u.unit.is_trunk]
    index = {p.run.run_id: i for i, p in enumerate(plan)}
    lines += [format_pack(u, index) for u in units if u.unit.is_pack]
    flops = sum(u.cost.flops for u in units if u.pending)
    separate = sum(u.cost.separate_flops for u in units if u.pending)
    pending = sum(not p.done for p in plan)
    packs = sum(u.unit.is_pack for u in units)
    lines.append(f"{len(plan)} runs, {pending} to train, in {len(units)} units ({packs} packs): {flops:.3g} exact training FLOPs "
                 f"({flops / separate if separate else 1:.2f}x of {separate:.3g} as separate runs), estimated "
                 f"{format_duration(estimate_seconds(flops, basis))} ({basis.describe()})")
    return "\n".join(lines)


def format_trunk(planned: PlannedUnit) -> str:
    """'trunk 1a2b3c4d L4 d96: 6 budgets, 3 to train; trunk steps 390 -> 781 (from its kept state), ...'."""
    unit, cost = planned.unit, planned.cost
    r = unit.runs[-1]
    todo = sum(not p.done for p in planned.members)
    if cost.trunk_to_step == 0:
        trunk = "no trunk steps to train (every fork state is kept)"
    else:
        start = "step 0" if cost.trunk_from_step == 0 else "its kept state"
        trunk = f"{cost.trunk_steps} trunk steps to train, {cost.trunk_from_step} -> {cost.trunk_to_step} (from {start})"
    ratio = cost.flops / cost.separate_flops if cost.separate_flops else 1.0
    return (f"trunk {unit.trunk_id[:8]} L{r.gpt.n_layer} d{r.gpt.d_model}: {len(unit.runs)} budgets, {todo} to train; "
            f"{trunk}; forks at steps {[m.fork_step for m in unit.runs]}; {cost.flops:.3g} FLOPs against "
            f"{cost.separate_flops:.3g} as separate runs ({ratio:.2f}x)")


def format_pack(planned: PlannedUnit, index: dict) -> str:
    """'pack of 3 runs L1 d16 (#0 #4 #8): seeds [0, 1, 2], peak lr [...], trained as one batched model'."""
    runs = planned.unit.runs
    r = runs[0]
    numbers = " ".join(f"#{index[run.run_id]}" for run in runs)
    return (f"pack of {len(runs)} runs L{r.gpt.n_layer} d{r.gpt.d_model} ({numbers}): seeds "
            f"{[run.config.train.seed for run in runs]}, peak lr {[float(f'{run.peak_lr:.3g}') for run in runs]}, "
            "trained as one batched model")
