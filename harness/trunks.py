"""Trunks and cooldown branches of the wsd schedule: which runs share a trunk, where each forks, what it costs.

Runs with the same trunk id (harness.resolve.trunk_id_of: the config without its budget) train the
same steps at the same constant learning rate until their cooldowns start, on the same batches (the
sampler is a pure function of seed and step). So one trunk trains to the last fork; at each budget's
fork, (1 - cooldown_frac) * D_k, its state is kept under RESULTS_DIR/trunks/<trunk_id>/, and a branch
trains that budget's cooldown from there. Kept states stay after the sweep, so a later sweep that adds
a budget continues the trunk from the latest kept state before its fork instead of from step 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from configs.errors import ConfigError
from harness.resolve import ResolvedRun
from harness.trainer import Segment, whole_run_steps
from models.flops import TRAIN_FLOPS_PER_TOKEN

TRUNKS_SUBDIR = "trunks"
STATE_NAME = "step_{step:09d}.pt"
STATE_PATTERN = re.compile(r"^step_(\d{9})\.pt$")
# Resolved values every member of one trunk must share (its constant-rate phase is one training).
SHARED_VALUES = ("batch_size", "peak_lr", "warmup_steps")


@dataclass(frozen=True)
class Unit:
    """What one launched job trains: a single run, or a trunk with its branches (the runs that share it)."""

    runs: tuple
    """The ResolvedRuns of the unit, by budget (smallest first)."""

    @property
    def trunk_id(self) -> str:
        return self.runs[0].trunk_id

    @property
    def is_trunk(self) -> bool:
        return bool(self.trunk_id)


def group_units(runs: Sequence[ResolvedRun]) -> List[Unit]:
    """Runs grouped into units, in the order of each unit's first run: wsd runs by trunk id, cosine runs alone."""
    units: dict = {}
    for i, run in enumerate(runs):
        key = run.trunk_id or f"run:{i}"
        units.setdefault(key, []).append(run)
    for members in units.values():
        check_trunk(members)
    return [Unit(tuple(sorted(members, key=lambda r: r.steps))) for members in units.values()]


def check_trunk(members: Sequence[ResolvedRun]) -> None:
    """ConfigError naming the field when runs with one trunk id would not train one identical trunk."""
    first = members[0]
    for run in members[1:]:
        for name in SHARED_VALUES:
            if getattr(run, name) != getattr(first, name):
                raise ConfigError(f"train ({name})", getattr(run, name),
                                  f"trunk {first.trunk_id[:8]}: run {run.run_id[:8]} resolves to {name}="
                                  f"{getattr(run, name)} but run {first.run_id[:8]} to {getattr(first, name)}; "
                                  "the budgets of one trunk must share it")


def trunk_dir(results_dir: str | Path, trunk_id: str) -> Path:
    """Where the kept states of a trunk live."""
    return Path(results_dir) / TRUNKS_SUBDIR / trunk_id


def state_path(results_dir: str | Path, trunk_id: str, step: int) -> Path:
    """The kept state of a trunk after `step` optimizer steps."""
    return trunk_dir(results_dir, trunk_id) / STATE_NAME.format(step=step)


def kept_steps(results_dir: str | Path, trunk_id: str) -> List[int]:
    """Steps at which the trunk has a kept state, ascending (temp files of interrupted writes are not states)."""
    folder = trunk_dir(results_dir, trunk_id)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for m in map(STATE_PATTERN.match, (p.name for p in folder.iterdir())) if m)


def start_step(kept: Sequence[int], first_fork: int) -> Optional[int]:
    """The latest kept state at or before the first fork the trunk must reach (None: train from step 0)."""
    usable = [s for s in kept if s <= first_fork]
    return max(usable) if usable else None


def trunk_segment_steps(members: Sequence[ResolvedRun]) -> tuple[frozenset, frozenset]:
    """(row steps, eval steps) of a trunk: each member's own up to its fork, and every fork."""
    rows, evals = set(), set()
    for run in members:
        own_rows, own_evals = whole_run_steps(run)
        rows |= {s for s in own_rows if s <= run.fork_step} | {run.fork_step}
        evals |= {s for s in own_evals if s <= run.fork_step} | {run.fork_step}
    rows.discard(0)
    evals.discard(0)
    return frozenset(rows), frozenset(evals)


def branch_segment(run: ResolvedRun, resume_from: Path) -> Segment:
    """The cooldown of one budget: from its fork state (or its own checkpoint) to its last step."""
    rows, evals = whole_run_steps(run)
    after = lambda steps: frozenset(s for s in steps if s > run.fork_step)  # noqa: E731
    return Segment(run.steps, after(rows), after(evals), resume_from)


def flops_per_step(run: ResolvedRun) -> float:
    """Exact training FLOPs of one optimizer step (3 x the Hoffmann et al. app. F forward count per token)."""
    return run.tokens_per_step * TRAIN_FLOPS_PER_TOKEN["exact"](run.gpt)


@dataclass(frozen=True)
class UnitCost:
    """Exact training FLOPs of a unit still to train, and of the same results trained as separate runs."""

    flops: float
    separate_flops: float
    trunk_from_step: int
    trunk_to_step: int


def unit_cost(unit: Unit, pending: Sequence[bool], kept: Sequence[int]) -> UnitCost:
    """What training the pending runs of `unit` costs: the trunk from its start state to the last pending fork,
    plus each pending branch's cooldown; against each pending run trained on its own from step 0."""
    runs = [r for r, todo in zip(unit.runs, pending) if todo]
    separate = sum(r.steps * flops_per_step(r) for r in runs)
    if not unit.is_trunk or not runs:
        return UnitCost(separate, separate, 0, 0)
    branches = sum(r.cooldown_steps * flops_per_step(r) for r in runs)
    needed = missing_forks(runs, kept)
    if not needed:
        return UnitCost(branches, separate, 0, 0)
    start = start_step(kept, needed[0]) or 0
    return UnitCost((needed[-1] - start) * flops_per_step(runs[0]) + branches, separate, start, needed[-1])


def missing_forks(runs: Sequence[ResolvedRun], kept: Sequence[int]) -> List[int]:
    """The fork steps of `runs` that have no kept state yet, ascending: where the trunk must still train to."""
    return sorted({r.fork_step for r in runs} - set(kept))
