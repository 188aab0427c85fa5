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
from harness.checkpoint import checkpoint_path, load_checkpoint
from harness.data import PreparedData, prepare_data
from harness.failures import run_failed
from harness.plan import check_same_data
from harness.resolve import ResolvedRun
from harness.runner import (RunResult, prepare_checked, remove_leftovers_of_killed_writers, set_threads, shape_label,
                            stale_claim_s, tidy_finished, tidy_leftovers, train_and_record, train_checked)
from harness.trainer import Segment, Trainer
from harness.trunks import (TRUNK_CLAIM_PREFIX, kept_steps, missing_forks, state_path,  # noqa: F401 (re-exported)
                            trunk_checkpoint_path, trunk_dir, trunk_segment_steps, trunk_stretches)

log = logging.getLogger("scalinglab")


def trunk_claim_path(results_dir: str | Path, trunk_id: str) -> Path:
    """The claim of the process that trains a trunk and its branches."""
    return claims.claim_path(results_dir, TRUNK_CLAIM_PREFIX + trunk_id)


def _done(run: ResolvedRun, force: bool) -> bool:
    return not force and store.run_path(run.config.sweep.results_dir, run.run_id).exists()


def execute_trunk(runs: Sequence[ResolvedRun], *, parallel_jobs: int = 1, force: bool = False,
                  stop_after_step: int | None = None) -> List[RunResult]:
    """Every budget of one trunk: skip the finished, grow the trunk to the forks of the rest, train their
    branches. Results come back in the order of `runs`; a budget whose files cannot be written fails alone."""
    results = {r.run_id: _skip(r) for r in runs if _done(r, force)}
    pending = [r for r in runs if r.run_id not in results]
    if pending:
        results.update(_train_pending(runs, pending, parallel_jobs, force, stop_after_step))
    return [results[r.run_id] for r in runs]


def _skip(run: ResolvedRun) -> RunResult:
    check_same_data(run, prepare_data(run.config.data), False)
    tidy_finished(run)
    return RunResult(run.run_id, "skipped", store.run_path(run.config.sweep.results_dir, run.run_id), None)


def _train_pending(runs, pending, parallel_jobs, force, stop_after_step) -> dict:
    first = pending[0]
    results_dir = Path(first.config.sweep.results_dir)
    device, data = prepare_checked(pending)
    claim = claims.try_claim(trunk_claim_path(results_dir, first.trunk_id), stale_claim_s(first))
    if claim is None:
        log.info("trunk %s: claimed by another process, leaving its %d budgets to it (budgets that process does not "
                 "plan need a re-run of this sweep)", first.trunk_id[:8], len(pending))
        return {r.run_id: RunResult(r.run_id, "busy", None, None) for r in pending}
    try:
        with claims.Heartbeat(claim, first.config.train.checkpoint_interval_s) as beat:
            return _train_claimed(runs, pending, data, device, beat.check, parallel_jobs, force, stop_after_step)
    except claims.ClaimLost:
        log.warning("trunk %s: another process took it over (this one was presumed dead)", first.trunk_id[:8])
        return {r.run_id: RunResult(r.run_id, "busy", None, None) for r in pending}
    finally:
        claims.release(claim)


def _train_claimed(runs, pending, data, device, check, parallel_jobs, force, stop_after_step) -> dict:
    """With the trunk's claim: the budgets still pending now (another process may have finished some while this
    one waited), the trunk to their forks, then their branches, each failing alone if it cannot write."""
    first = pending[0]
    results_dir = Path(first.config.sweep.results_dir)
    results = {r.run_id: _skip(r) for r in pending if _done(r, force)}
    pending = [r for r in pending if r.run_id not in results]
    if not pending:
        return results
    if force:
        _forget_trunk(results_dir, first.trunk_id)
    set_threads(first, parallel_jobs)
    try:
        grow_trunk(runs, pending, data, device, check, stop_after_step)
    except OSError as exc:  # the trunk's states cannot be written: none of its pending budgets can train
        return {**results, **{r.run_id: run_failed(r, exc) for r in pending}}
    for run in pending:
        try:
            results[run.run_id] = _branch(run, data, device, check, parallel_jobs, force, stop_after_step)
        except OSError as exc:
            results[run.run_id] = run_failed(run, exc)
    return results


def _forget_trunk(results_dir: Path, trunk_id: str) -> None:
    """sweep.force: drop the kept states and progress of a trunk, so it trains again from step 0."""
    for step in kept_steps(results_dir, trunk_id):
        state_path(results_dir, trunk_id, step).unlink()
    trunk_checkpoint_path(results_dir, trunk_id).unlink(missing_ok=True)


def grow_trunk(runs: Sequence[ResolvedRun], pending: Sequence[ResolvedRun], data: PreparedData,
               device: torch.device, check, stop_after_step: int | None = None) -> None:
    """Train the trunk (caller holds its claim) to every missing fork, stretch by stretch, each from its latest
    usable saved state (harness.trunks.trunk_stretches)."""
    first = pending[0]
    results_dir, trunk_id = Path(first.config.sweep.results_dir), first.trunk_id
    _remove_temp_states(results_dir, trunk_id)
    kept = kept_steps(results_dir, trunk_id)
    ckpt = trunk_checkpoint_path(results_dir, trunk_id)
    horizon = max(pending, key=lambda r: r.fork_step)  # its rate is the trunk's constant rate up to every fork
    for start, forks in trunk_stretches(missing_forks(pending, kept), kept):
        _train_stretch(horizon, data, device, check, start, forks, stop_after_step)
    ckpt.unlink(missing_ok=True)  # the kept states now hold everything it had


def _train_stretch(horizon: ResolvedRun, data: PreparedData, device: torch.device, check, start: int,
                   forks: List[int], stop_after_step: int | None) -> None:
    results_dir, trunk_id = Path(horizon.config.sweep.results_dir), horizon.trunk_id
    ckpt = trunk_checkpoint_path(results_dir, trunk_id)
    kept_state = state_path(results_dir, trunk_id, start) if start else None
    resume_from, fallback = kept_state, None
    if ckpt.exists() and start < _saved_step(ckpt) < forks[0]:  # killed between two forks: go on from there
        resume_from, fallback = ckpt, kept_state
    log.info("trunk %s (%s): steps %d -> %d, keeping the states at forks %s", trunk_id[:8], shape_label(horizon),
             start, forks[-1], forks)
    rows, evals = trunk_segment_steps(forks[-1])
    keep = tuple((step, state_path(results_dir, trunk_id, step)) for step in forks)
    trainer = Trainer(horizon, data, device, ckpt, on_checkpoint=check, stop_after_step=stop_after_step,
                      segment=Segment(forks[-1], rows, evals, resume_from, keep, fallback),
                      state_tag={"trunk_id": trunk_id})
    train_checked(trainer, horizon)
    check()


def _saved_step(ckpt: Path) -> int:
    """The step of the trunk's checkpoint (0 when it cannot be read: it is then moved aside, with a warning)."""
    saved = load_checkpoint(ckpt, torch.device("cpu"))
    return 0 if saved is None else saved["curve"]["step"]


def _remove_temp_states(results_dir: Path, trunk_id: str) -> None:
    """Temp files that a killed writer of kept states or of the trunk checkpoint left (we hold the claim)."""
    folder = trunk_dir(results_dir, trunk_id)
    leftovers = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    leftovers += store.remove_temp_files(trunk_checkpoint_path(results_dir, trunk_id))
    for tmp in leftovers:
        tmp.unlink(missing_ok=True)
        log.info("trunk %s: removed %s left by an interrupted write", trunk_id[:8], tmp)


def tidy_finished_trunk(runs: Sequence[ResolvedRun]) -> None:
    """Remove the trunk checkpoint, temp files and claim that a process killed after its last branch left (only
    when the trunk's claim can be taken: a live process re-training it is left alone); kept states stay."""
    first = runs[0]
    results_dir = Path(first.config.sweep.results_dir)
    tidy_leftovers(trunk_claim_path(results_dir, first.trunk_id), trunk_checkpoint_path(results_dir, first.trunk_id),
                   stale_claim_s(first), lambda: _remove_temp_states(results_dir, first.trunk_id))


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
        if _done(run, force):  # another process finished it since this one looked
            return RunResult(run.run_id, "skipped", store.run_path(results_dir, run.run_id), None)
        remove_leftovers_of_killed_writers(results_dir, run.run_id)
        with claims.Heartbeat(claim, run.config.train.checkpoint_interval_s) as beat:
            def check() -> None:
                trunk_check()
                beat.check()
            return train_and_record(run, data, device, check, parallel_jobs, force, stop_after_step, fork_state)
    finally:
        claims.release(claim)
