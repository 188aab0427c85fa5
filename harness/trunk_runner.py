"""Train a trunk and its cooldown branches: grow the trunk to every missing fork, then train each branch.

One process holds the trunk's claim while it trains the trunk and its branches, so two sweeps on one
folder that share a trunk train it once; each branch also takes its run's claim, as any run does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Sequence

import torch

from configs.errors import ConfigError
from harness import claims, store
from harness.checkpoint import CHECKPOINTS_SUBDIR, checkpoint_path
from harness.data import PreparedData, prepare_data
from harness.device import pick_device
from harness.plan import check_data_fits, check_same_data
from harness.resolve import ResolvedRun
from harness.runner import (RunResult, remove_leftovers_of_killed_writers, set_threads, shape_label,
                            stale_claim_s, tidy_finished, train_and_record, train_checked)
from harness.trainer import Segment, Trainer
from harness.trunks import (kept_steps, missing_forks, start_step, state_path, trunk_dir,
                            trunk_segment_steps)

log = logging.getLogger("scalinglab")
TRUNK_CLAIM_PREFIX = "trunk-"


def trunk_checkpoint_path(results_dir: str | Path, trunk_id: str) -> Path:
    """The resumable state of a trunk between two of its forks (deleted once the forks it trained to are kept)."""
    return Path(results_dir) / CHECKPOINTS_SUBDIR / f"{TRUNK_CLAIM_PREFIX}{trunk_id}.pt"


def execute_trunk(runs: Sequence[ResolvedRun], *, parallel_jobs: int = 1, force: bool = False,
                  stop_after_step: int | None = None) -> List[RunResult]:
    """Every budget of one trunk: skip the finished, grow the trunk to the forks of the rest, train their
    branches. Results come back in the order of `runs`."""
    first = runs[0]
    results_dir = Path(first.config.sweep.results_dir)
    done = {r.run_id for r in runs if store.run_path(results_dir, r.run_id).exists() and not force}
    pending = [r for r in runs if r.run_id not in done]
    results = {r.run_id: _skip(r) for r in runs if r.run_id in done}
    if pending:
        results.update(_train_pending(runs, pending, parallel_jobs, force, stop_after_step))
    return [results[r.run_id] for r in runs]


def _skip(run: ResolvedRun) -> RunResult:
    check_same_data(run, prepare_data(run.config.data), False)
    tidy_finished(run)
    return RunResult(run.run_id, "skipped", store.run_path(run.config.sweep.results_dir, run.run_id), None)


def _busy(runs: Sequence[ResolvedRun]) -> dict:
    return {r.run_id: RunResult(r.run_id, "busy", None, None) for r in runs}


def _train_pending(runs, pending, parallel_jobs, force, stop_after_step) -> dict:
    first = pending[0]
    results_dir = Path(first.config.sweep.results_dir)
    device = pick_device(first.config.train.device)
    data = prepare_data(first.config.data)
    for run in pending:  # everything that can reject the config runs before the claim
        check_data_fits(run, data)
    claim = claims.try_claim(claims.claim_path(results_dir, TRUNK_CLAIM_PREFIX + first.trunk_id),
                             stale_claim_s(first))
    if claim is None:
        log.info("trunk %s: claimed by another process, leaving its %d budgets to it", first.trunk_id[:8], len(pending))
        return _busy(pending)
    try:
        with claims.Heartbeat(claim, first.config.train.checkpoint_interval_s) as beat:
            if force:
                _forget_trunk(results_dir, first.trunk_id)
            set_threads(first, parallel_jobs)
            grow_trunk(runs, pending, data, device, beat.check, stop_after_step)
            return {r.run_id: _branch(r, data, device, beat.check, parallel_jobs, force, stop_after_step)
                    for r in pending}
    except claims.ClaimLost:
        log.warning("trunk %s: another process took it over (this one was presumed dead)", first.trunk_id[:8])
        return _busy(pending)
    finally:
        claims.release(claim)


def _forget_trunk(results_dir: Path, trunk_id: str) -> None:
    """sweep.force: drop the kept states and progress of a trunk, so it trains again from step 0."""
    for step in kept_steps(results_dir, trunk_id):
        state_path(results_dir, trunk_id, step).unlink()
    trunk_checkpoint_path(results_dir, trunk_id).unlink(missing_ok=True)


def grow_trunk(runs: Sequence[ResolvedRun], pending: Sequence[ResolvedRun], data: PreparedData,
               device: torch.device, check, stop_after_step: int | None = None) -> None:
    """Train the trunk (caller holds its claim) from its latest usable saved state to every missing fork."""
    first = pending[0]
    results_dir, trunk_id = Path(first.config.sweep.results_dir), first.trunk_id
    _remove_temp_states(results_dir, trunk_id)
    needed = missing_forks(pending, kept_steps(results_dir, trunk_id))
    if not needed:
        return
    horizon = max(pending, key=lambda r: r.fork_step)  # its rate is the trunk's constant rate up to every fork
    resume_from, from_step = _trunk_start(results_dir, trunk_id, needed[0], device)
    log.info("trunk %s (%s): steps %d -> %d, keeping the states at forks %s", trunk_id[:8], shape_label(horizon),
             from_step, needed[-1], needed)
    rows, evals = trunk_segment_steps(runs)
    keep = tuple((step, state_path(results_dir, trunk_id, step)) for step in needed)
    ckpt = trunk_checkpoint_path(results_dir, trunk_id)
    trainer = Trainer(horizon, data, device, ckpt, on_checkpoint=check, stop_after_step=stop_after_step,
                      segment=Segment(needed[-1], rows, evals, resume_from, keep), state_tag={"trunk_id": trunk_id})
    train_checked(trainer, horizon)
    check()
    ckpt.unlink(missing_ok=True)  # the kept states now hold everything it had


def _trunk_start(results_dir: Path, trunk_id: str, first_fork: int, device: torch.device):
    """(state to start from, its step): the later of the latest kept state and the trunk's own checkpoint, at or
    before the first missing fork; (None, 0) trains from step 0."""
    kept = start_step(kept_steps(results_dir, trunk_id), first_fork)
    best = (None, 0) if kept is None else (state_path(results_dir, trunk_id, kept), kept)
    ckpt = trunk_checkpoint_path(results_dir, trunk_id)
    if ckpt.exists():
        step = torch.load(ckpt, map_location="cpu", weights_only=False)["curve"]["step"]
        if best[1] < step <= first_fork:
            best = (ckpt, step)
    return best


def _remove_temp_states(results_dir: Path, trunk_id: str) -> None:
    """Temp files that a killed writer of kept states or of the trunk checkpoint left (we hold the claim)."""
    folder = trunk_dir(results_dir, trunk_id)
    leftovers = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    leftovers += store.remove_temp_files(trunk_checkpoint_path(results_dir, trunk_id))
    for tmp in leftovers:
        tmp.unlink(missing_ok=True)
        log.info("trunk %s: removed %s left by an interrupted write", trunk_id[:8], tmp)


def _branch(run: ResolvedRun, data: PreparedData, device: torch.device, trunk_check, parallel_jobs: int,
            force: bool, stop_after_step: int | None) -> RunResult:
    """Train one budget's cooldown from its fork state and write its result (under its own run claim too)."""
    results_dir = Path(run.config.sweep.results_dir)
    fork_state = state_path(results_dir, run.trunk_id, run.fork_step)
    if not fork_state.exists() and not checkpoint_path(results_dir, run.run_id).exists():
        raise ConfigError("sweep.results_dir", str(results_dir),
                          f"run {run.run_id[:8]}: its trunk state {fork_state} is missing (removed while the sweep "
                          "ran?): re-run the sweep to train the trunk to that fork again")
    claim = claims.try_claim(claims.claim_path(results_dir, run.run_id), stale_claim_s(run))
    if claim is None:
        log.info("%s: claimed by another process, leaving it", shape_label(run))
        return RunResult(run.run_id, "busy", None, None)
    try:
        remove_leftovers_of_killed_writers(results_dir, run.run_id)
        with claims.Heartbeat(claim, run.config.train.checkpoint_interval_s) as beat:
            def check() -> None:
                trunk_check()
                beat.check()
            return train_and_record(run, data, device, check, parallel_jobs, force, stop_after_step, fork_state)
    finally:
        claims.release(claim)
