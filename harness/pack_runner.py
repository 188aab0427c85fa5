"""Execute a pack: skip its finished runs, claim the rest one by one, train them together, record each.

Every member is an ordinary run to the rest of the harness: its own claim (held with a heartbeat while the
pack trains), its own checkpoint (the Trainer's format) and result file, written as soon as it finishes or
diverges. Members whose checkpoints are at different steps (a pack re-planned after some of its runs were
trained alone for a while) train as one pack per saved step.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from harness import claims, store
from harness.checkpoint import checkpoint_path, load_checkpoint
from harness.data import PreparedData
from harness.failures import run_failed
from harness.packed import PackedTrainer
from harness.progress import RunProgress
from harness.record import curve_frame, run_metadata
from harness.resolve import ResolvedRun
from harness.runner import (RunResult, execute, log_derived_values, prepare_checked, remove_leftovers_of_killed_writers,
                            set_threads, shape_label, stale_claim_s, train_checked)
from harness.trackers import fan_out, open_sinks
from harness.trainer import TrainOutcome
from harness.trunk_runner import _done, _skip, execute_trunk

log = logging.getLogger("scalinglab")


def execute_pack(runs: Sequence[ResolvedRun], *, parallel_jobs: int = 1, force: bool = False,
                 stop_after_step: int | None = None) -> List[RunResult]:
    """Train the pending runs of a pack together (one pending run trains the ordinary way); results in the
    order of `runs`."""
    results = {r.run_id: _skip(r) for r in runs if _done(r, force)}
    pending = [r for r in runs if r.run_id not in results]
    if len(pending) == 1:
        (run,) = pending
        alone = execute_trunk([run], parallel_jobs=parallel_jobs, force=force, stop_after_step=stop_after_step)[0] \
            if run.trunk_id else execute(run, parallel_jobs=parallel_jobs, force=force, stop_after_step=stop_after_step)
        results[run.run_id] = alone
    elif pending:
        results.update(_claim_and_train(pending, parallel_jobs, force, stop_after_step))
    return [results[r.run_id] for r in runs]


def _busy(run: ResolvedRun) -> RunResult:
    return RunResult(run.run_id, "busy", None, None)


def _claim_and_train(pending: Sequence[ResolvedRun], parallel_jobs: int, force: bool,
                     stop_after_step: int | None) -> Dict[str, RunResult]:
    first = pending[0]
    results_dir = Path(first.config.sweep.results_dir)
    device, data = prepare_checked(pending)
    results: Dict[str, RunResult] = {}
    held = {}
    for run in pending:
        claim = claims.try_claim(claims.claim_path(results_dir, run.run_id), stale_claim_s(run))
        if claim is None:
            log.info("%s: claimed by another process, leaving it", shape_label(run))
            results[run.run_id] = _busy(run)
        else:
            held[run.run_id] = claim
    try:
        with contextlib.ExitStack() as stack:
            beats = {rid: stack.enter_context(claims.Heartbeat(c, first.config.train.checkpoint_interval_s))
                     for rid, c in held.items()}
            claimed = [r for r in pending if r.run_id in held]
            results.update({r.run_id: _skip(r) for r in claimed if _done(r, force)})  # finished meanwhile
            todo = [r for r in claimed if r.run_id not in results]
            for run in todo:
                remove_leftovers_of_killed_writers(results_dir, run.run_id)
                if force:
                    checkpoint_path(results_dir, run.run_id).unlink(missing_ok=True)
            if todo:
                set_threads(first, parallel_jobs)
            for group in by_saved_step(todo):
                results.update(_train_group(group, data, device, beats, stop_after_step))
    finally:
        for claim in held.values():
            claims.release(claim)
    return results


def by_saved_step(runs: Sequence[ResolvedRun]) -> List[List[ResolvedRun]]:
    """The runs grouped by the step of their checkpoint (0 without one), in the order of their first run."""
    groups: Dict[int, List[ResolvedRun]] = {}
    for run in runs:
        saved = load_checkpoint(checkpoint_path(run.config.sweep.results_dir, run.run_id), torch.device("cpu"))
        groups.setdefault(0 if saved is None else saved["curve"]["step"], []).append(run)
    return list(groups.values())


def _train_group(group: List[ResolvedRun], data: PreparedData, device: torch.device, beats: dict,
                 stop_after_step: int | None) -> Dict[str, RunResult]:
    """Train one pack of claimed runs at one saved step; each member recorded as it finishes."""
    results: Dict[str, RunResult] = {}
    for run in group:
        log_derived_values(run)
    log.info("pack of %d runs %s: seeds %s, peak lr %s", len(group), shape_label(group[0]).split(" ", 2)[2],
             [r.config.train.seed for r in group], [f"{r.peak_lr:.3g}" for r in group])

    def holds(i: int) -> bool:
        try:
            beats[group[i].run_id].check()
        except claims.ClaimLost:
            log.warning("%s: another process took this run over (this one was presumed dead); the pack goes on "
                        "without it", shape_label(group[i]))
            results[group[i].run_id] = _busy(group[i])
            return False
        return True

    def done(i: int, outcome: TrainOutcome) -> None:
        if holds(i):
            results[group[i].run_id] = record(group[i], data, outcome)

    sinks = [open_sinks(run) for run in group]
    rows = [fan_out(RunProgress(shape_label(r), r.tokens, r.config.train.progress_interval_s, bar=False), *s)
            for r, s in zip(group, sinks)]
    ckpts = [checkpoint_path(r.config.sweep.results_dir, r.run_id) for r in group]
    trainer = PackedTrainer(group, data, device, ckpts, on_row=lambda i, row: rows[i](row), on_done=done,
                            keep_member=holds, stop_after_step=stop_after_step)
    try:
        train_checked(trainer, group[0])
    finally:
        for member_sinks in sinks:
            for sink in member_sinks:
                sink.close()
    return results


def record(run: ResolvedRun, data: PreparedData, outcome: TrainOutcome) -> RunResult:
    """Write a finished member's result and remove its checkpoint; a write that fails fails this run alone."""
    results_dir = Path(run.config.sweep.results_dir)
    try:
        meta = run_metadata(run, data, outcome, preset=run.config.sweep.preset)
        path = store.write_run(results_dir, curve_frame(run.run_id, outcome), meta)
    except OSError as exc:
        return run_failed(run, exc)
    checkpoint_path(results_dir, run.run_id).unlink(missing_ok=True)
    log.info("%s: %s, final test loss %.4f, %.1fs (its share of the pack)", shape_label(run), outcome.status,
             meta["final_test_loss"], outcome.wall_time_s)
    return RunResult(run.run_id, "trained", path, outcome.status)
