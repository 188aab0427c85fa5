"""Trunks and cooldown branches of the wsd schedule: which runs share a trunk, where each forks, what it costs.

Runs with the same trunk id (harness.resolve.trunk_id_of: the config without its budget) train the
same steps at the same constant learning rate until their cooldowns start, on the same batches (the
sampler is a pure function of seed and step). So one trunk trains to the last fork; at each budget's
fork, (1 - cooldown_frac) * D_k, its state is kept under RESULTS_DIR/trunks/<trunk_id>/, and a branch
trains that budget's cooldown from there. Kept states stay after the sweep, so a later sweep that adds
a budget continues the trunk from the latest kept state before its fork instead of from step 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from configs.errors import ConfigError
from harness.checkpoint import CHECKPOINTS_SUBDIR
from harness.resolve import ResolvedRun
from harness.trainer import Segment, whole_run_steps
from models.flops import TRAIN_FLOPS_PER_TOKEN

TRUNKS_SUBDIR = "trunks"
TRUNK_CLAIM_PREFIX = "trunk-"  # claims/trunk-<trunk_id>.claim: the process training a trunk and its branches
# Curve points of a trunk, per decade of steps: about the density of a cosine run's defaults (24 test points and
# 100 train rows over the ~10^2.7 steps of a default-preset run: 9 and 37 per decade).
TRUNK_EVALS_PER_DECADE = 10
TRUNK_ROWS_PER_DECADE = 30
STATE_NAME = "step_{step:09d}.pt"
STATE_PATTERN = re.compile(r"^step_(\d{9})\.pt$")
# Resolved values every member of one trunk must share (its constant-rate phase is one training).
SHARED_VALUES = ("batch_size", "peak_lr", "warmup_steps")


def is_pack(runs: Sequence[ResolvedRun]) -> bool:
    """Whether a unit's runs are a pack (harness/packing.py): several runs that are not the budgets of one trunk."""
    return len(runs) > 1 and not (runs[0].trunk_id and all(r.trunk_id == runs[0].trunk_id for r in runs))


@dataclass(frozen=True)
class Unit:
    """What one launched job trains: a single run, a trunk with its branches (the runs that share it), or a pack
    of runs of one shape trained as one batched model (harness/packing.py)."""

    runs: tuple
    """The ResolvedRuns of the unit: a trunk's by budget (smallest first), a pack's in plan order."""

    @property
    def trunk_id(self) -> str:
        return "" if self.is_pack else self.runs[0].trunk_id

    @property
    def is_trunk(self) -> bool:
        return bool(self.trunk_id)

    @property
    def is_pack(self) -> bool:
        return is_pack(self.runs)


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


def trunk_checkpoint_path(results_dir: str | Path, trunk_id: str) -> Path:
    """The resumable state of a trunk between two of its forks (deleted once the forks it trained to are kept)."""
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{TRUNK_CLAIM_PREFIX}{trunk_id}.pt"


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


def geometric_steps(until: int, per_decade: int) -> frozenset:
    """Steps round(10^(i / per_decade)) for i = 0, 1, ... up to `until`: a grid that does not depend on any budget."""
    count = int(math.floor(per_decade * math.log10(until))) + 1 if until >= 1 else 0
    return frozenset(s for s in (int(round(10 ** (i / per_decade))) for i in range(count)) if 1 <= s <= until)


def trunk_segment_steps(until: int) -> tuple[frozenset, frozenset]:
    """(row steps, eval steps) of a trunk up to step `until`: geometric grids that depend on no budget, so a
    budget's curve up to its fork (and the divergence rules read on it) is the same whichever other budgets
    share its trunk, and whichever sweep trained that part of the trunk."""
    evals = geometric_steps(until, TRUNK_EVALS_PER_DECADE)
    return evals | geometric_steps(until, TRUNK_ROWS_PER_DECADE), evals


def branch_segment(run: ResolvedRun, ckpt: Path, fork_state: Path) -> Segment:
    """The cooldown of one budget, to its last step: from its own checkpoint when it has one (falling back to the
    fork state if that checkpoint cannot be read), else from the trunk's state at its fork."""
    rows, evals = whole_run_steps(run)
    after = lambda steps: frozenset(s for s in steps if s > run.fork_step)  # noqa: E731
    if ckpt.exists():
        return Segment(run.steps, after(rows), after(evals), ckpt, fallback=fork_state)
    return Segment(run.steps, after(rows), after(evals), fork_state)


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
    trunk_steps: int = 0
    """Trunk steps still to train (fewer than to_step - from_step when kept states let stretches be skipped)."""


def unit_cost(unit: Unit, pending: Sequence[bool], kept: Sequence[int]) -> UnitCost:
    """What training the pending runs of `unit` costs: the trunk from its start state to the last pending fork,
    plus each pending branch's cooldown; against each pending run trained on its own from step 0."""
    runs = [r for r, todo in zip(unit.runs, pending) if todo]
    separate = sum(r.steps * flops_per_step(r) for r in runs)
    if not unit.is_trunk or not runs:
        return UnitCost(separate, separate, 0, 0)
    branches = sum(r.cooldown_steps * flops_per_step(r) for r in runs)
    stretches = trunk_stretches(missing_forks(runs, kept), kept)
    if not stretches:
        return UnitCost(branches, separate, 0, 0)
    trunk_steps = sum(forks[-1] - start for start, forks in stretches)
    return UnitCost(trunk_steps * flops_per_step(runs[0]) + branches, separate, stretches[0][0],
                    stretches[-1][1][-1], trunk_steps)


def missing_forks(runs: Sequence[ResolvedRun], kept: Sequence[int]) -> List[int]:
    """The fork steps of `runs` that have no kept state yet, ascending: where the trunk must still train to."""
    return sorted({r.fork_step for r in runs} - set(kept))


def trunk_stretches(needed: Sequence[int], kept: Sequence[int]) -> List[tuple[int, List[int]]]:
    """How to reach every needed fork: (start step, forks it trains to) per stretch of trunk training, each from
    the latest kept state (or fork made before it) at or before its first fork, 0 meaning step 0. A new stretch
    starts wherever a kept state lies past the previous fork, so no kept stretch of the trunk is trained twice."""
    stretches: List[tuple[int, List[int]]] = []
    have = set(kept)
    for fork in sorted(needed):
        start = start_step(sorted(have), fork) or 0
        if stretches and start <= stretches[-1][1][-1]:
            stretches[-1][1].append(fork)  # nothing kept beyond the last fork: train on
        else:
            stretches.append((start, [fork]))
        have.add(fork)
    return stretches
