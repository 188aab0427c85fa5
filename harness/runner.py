"""Turn one config into a finished, recorded run: skip if done, claim, resume, train, write, clean up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from configs.errors import ConfigError
from harness import claims, store
from harness.checkpoint import checkpoint_path
from harness.data import PreparedData, prepare_data
from harness.device import pick_device, threads_for
from harness.plan import check_data_fits, check_same_data, data_changed_error
from harness.progress import RunProgress
from harness.trackers import fan_out, open_sinks
from harness.record import curve_frame, run_metadata
from harness.resolve import ResolvedRun
from harness.trainer import CheckpointDataMismatch, ForeignState, TrainOutcome, Trainer
from harness.trunks import branch_segment

log = logging.getLogger("scalinglab")

# A claim whose owner cannot be checked from this host (another host, a half-written claim) and whose heartbeat
# (one per checkpoint interval, harness.claims.Heartbeat) is this many intervals old belongs to a dead process.
STALE_CLAIM_INTERVALS = 5


@dataclass(frozen=True)
class RunResult:
    """What happened to one requested run."""

    run_id: str
    action: str  # 'trained', 'skipped' (already finished), 'busy' (another process holds it), 'failed'
    path: Path | None
    status: str | None


def shape_label(run: ResolvedRun) -> str:
    """'run 1a2b3c4d L2 d64 N=98,304 D=2.0e+06' for logs ('run 1a2b3c4d lstm L2 d80 ...' for another family)."""
    family = "" if run.gpt.family == "gpt2" else f"{run.gpt.family} "
    return (f"run {run.run_id[:8]} {family}L{run.gpt.n_layer} d{run.gpt.d_model} "
            f"N={run.params.non_embedding:,} D={run.tokens:.2g}")


def execute(run: ResolvedRun, *, parallel_jobs: int = 1, force: bool = False,
            stop_after_step: int | None = None) -> RunResult:
    """Train `run` unless its result exists; resumable; safe against a second process on the same folder."""
    results_dir = Path(run.config.sweep.results_dir)
    path = store.run_path(results_dir, run.run_id)
    if path.exists() and not force:
        check_same_data(run, prepare_data(run.config.data), force)
        tidy_finished(run)
        return RunResult(run.run_id, "skipped", path, None)
    device, data = prepare_checked([run])
    claim = claims.try_claim(claims.claim_path(results_dir, run.run_id), stale_claim_s(run))
    if claim is None:
        log.info("%s: claimed by another process, leaving it", shape_label(run))
        return RunResult(run.run_id, "busy", None, None)
    try:
        if path.exists() and not force:  # another process finished it while we prepared the data
            check_same_data(run, data, force)
            return RunResult(run.run_id, "skipped", path, None)
        remove_leftovers_of_killed_writers(results_dir, run.run_id)
        with claims.Heartbeat(claim, run.config.train.checkpoint_interval_s) as beat:
            return train_and_record(run, data, device, beat.check, parallel_jobs, force, stop_after_step)
    except claims.ClaimLost:
        log.warning("%s: another process took this run over (this one was presumed dead); leaving it to that "
                    "process", shape_label(run))
        return RunResult(run.run_id, "busy", None, None)
    finally:
        claims.release(claim)


def prepare_checked(runs: Sequence[ResolvedRun]) -> tuple[torch.device, PreparedData]:
    """The device and data of a unit's runs, each run checked against the data: everything that can reject a
    config runs before any claim, so a bad run writes nothing."""
    device = pick_device(runs[0].config.train.device)
    data = prepare_data(runs[0].config.data)
    for run in runs:
        check_data_fits(run, data)
    return device, data


def stale_claim_s(run: ResolvedRun) -> float:
    """Seconds without a heartbeat after which the run's claim belongs to a dead process."""
    return STALE_CLAIM_INTERVALS * run.config.train.checkpoint_interval_s


def tidy_finished(run: ResolvedRun) -> None:
    """Remove the checkpoint, temp files and claim that a process killed just after writing the result left.

    Only when the claim can be taken: a live process re-training the run (sweep.force) is left alone.
    """
    results_dir = Path(run.config.sweep.results_dir)
    tidy_leftovers(claims.claim_path(results_dir, run.run_id), checkpoint_path(results_dir, run.run_id),
                   stale_claim_s(run), lambda: remove_leftovers_of_killed_writers(results_dir, run.run_id))


def tidy_leftovers(claim_file: Path, ckpt: Path, stale_after_s: float, remove_temp_files: Callable[[], None]) -> None:
    """Remove a checkpoint, temp files and a claim that a killed process left behind, when the claim can be taken
    (a live process still training is left alone)."""
    if not (ckpt.exists() or claim_file.exists()):
        return
    claim = claims.try_claim(claim_file, stale_after_s)
    if claim is None:
        return
    try:
        ckpt.unlink(missing_ok=True)
        remove_temp_files()
    finally:
        claims.release(claim)


def remove_leftovers_of_killed_writers(results_dir: Path, run_id: str) -> None:
    """Delete temp files of this run that a killed process left mid-write (we hold the claim, so none is live)."""
    for target in (checkpoint_path(results_dir, run_id), store.run_path(results_dir, run_id)):
        for tmp in store.remove_temp_files(target):
            log.info("run %s: removed %s left by an interrupted write", run_id[:8], tmp)


def train_and_record(run: ResolvedRun, data: PreparedData, device: torch.device, check: Callable[[], None],
                     parallel_jobs: int, force: bool, stop_after_step: int | None,
                     branch_from: Optional[Path] = None) -> RunResult:
    """Train the claimed run (or, with `branch_from`, its cooldown from that trunk state) and write its result.

    `check` raises claims.ClaimLost when this process no longer owns the run; it runs at every checkpoint.
    """
    results_dir = Path(run.config.sweep.results_dir)
    ckpt = checkpoint_path(results_dir, run.run_id)
    if force:
        ckpt.unlink(missing_ok=True)
    set_threads(run, parallel_jobs)
    log_derived_values(run)
    segment, tag = None, None
    if branch_from is not None:  # a branch: its own checkpoint if it has one, else the trunk's state at the fork
        segment = branch_segment(run, ckpt, branch_from)
        tag = {"trunk_id": run.trunk_id}
        log.info("%s: cooldown branch of trunk %s from step %d (%s, %d steps)", shape_label(run), run.trunk_id[:8],
                 run.fork_step, run.config.train.cooldown_shape, run.cooldown_steps)
    progress = RunProgress(shape_label(run), run.tokens, run.config.train.progress_interval_s, bar=parallel_jobs <= 1)
    sinks = open_sinks(run)
    trainer = Trainer(run, data, device, ckpt, on_row=fan_out(progress, *sinks), on_checkpoint=check,
                      stop_after_step=stop_after_step, segment=segment, state_tag=tag)
    try:
        outcome = train_checked(trainer, run)
    finally:
        for sink in sinks:
            sink.close()
    check()  # a process that lost the run while finishing leaves the result to the new owner
    meta = run_metadata(run, data, outcome, preset=run.config.sweep.preset)
    path = store.write_run(results_dir, curve_frame(run.run_id, outcome), meta)
    ckpt.unlink(missing_ok=True)
    log.info("%s: %s, final test loss %.4f, %.1fs", shape_label(run), outcome.status,
             meta["final_test_loss"], outcome.wall_time_s)
    return RunResult(run.run_id, "trained", path, outcome.status)


def set_threads(run: ResolvedRun, parallel_jobs: int) -> None:
    """Set torch's CPU threads for this job: train.threads, or the cores shared by the jobs side by side."""
    torch.set_num_threads(threads_for(run.config.train.threads, parallel_jobs))


def log_derived_values(run: ResolvedRun) -> None:
    """Log the values resolved for the run (they are recorded in its metadata too)."""
    micro = f" in micro-batches of {run.micro_batch_size}" if run.micro_batch_size < run.batch_size else ""
    log.info("%s: n_head %s, d_ff %d, peak lr %.3g, batch %d x %d tokens%s, %d steps (%d warm-up), %s, %d threads",
             shape_label(run), run.gpt.n_head, run.gpt.d_ff, run.peak_lr, run.batch_size, run.gpt.n_ctx, micro, run.steps,
             run.warmup_steps, run.config.train.schedule, torch.get_num_threads())


def train_checked(trainer: Trainer, run: ResolvedRun) -> TrainOutcome:
    """trainer.train(), with a saved state of other data or of another trunk refused in one message naming it."""
    results_dir = run.config.sweep.results_dir
    try:
        return trainer.train()
    except CheckpointDataMismatch as exc:
        if exc.saved is None:
            raise ConfigError("sweep.results_dir", str(results_dir),
                              f"run {run.run_id[:8]}: its checkpoint {exc.path} was written before checkpoints "
                              "recorded their corpus, so it cannot be checked against the data: delete that file to "
                              "train this run from the start") from exc
        raise data_changed_error(run, f"the saved state {exc.path}", exc.saved, exc.now) from exc
    except ForeignState as exc:
        raise ConfigError("sweep.results_dir", str(results_dir), f"run {run.run_id[:8]}: the saved state {exc}") from exc
