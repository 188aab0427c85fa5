"""Turn one config into a finished, recorded run: skip if done, claim, resume, train, write, clean up."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from configs.errors import ConfigError
from configs.run import RunConfig
from harness import claims, store
from harness.checkpoint import checkpoint_path
from harness.data import PreparedData, prepare_data
from harness.device import pick_device, threads_for
from harness.plan import check_data_fits, check_same_data, data_changed_error
from harness.progress import RunProgress
from harness.record import curve_frame, run_metadata
from harness.resolve import ResolvedRun, resolve
from harness.trainer import CheckpointDataMismatch, Trainer

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
    """'run 1a2b3c4d L2 d64 N=98,304 D=2.0e+06' for logs."""
    return (f"run {run.run_id[:8]} L{run.gpt.n_layer} d{run.gpt.d_model} "
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
    # Everything that can reject the config runs before the claim, so a bad run writes nothing.
    device = pick_device(run.config.train.device)
    data = prepare_data(run.config.data)
    check_data_fits(run, data)
    claim = claims.try_claim(claims.claim_path(results_dir, run.run_id), stale_claim_s(run))
    if claim is None:
        log.info("%s: claimed by another process, leaving it", shape_label(run))
        return RunResult(run.run_id, "busy", None, None)
    try:
        if path.exists() and not force:  # another process finished it while we prepared the data
            check_same_data(run, data, force)
            return RunResult(run.run_id, "skipped", path, None)
        _remove_leftovers_of_killed_writers(results_dir, run.run_id)
        with claims.Heartbeat(claim, run.config.train.checkpoint_interval_s) as beat:
            return _train_and_record(run, data, device, beat, parallel_jobs, force, stop_after_step)
    except claims.ClaimLost:
        log.warning("%s: another process took this run over (this one was presumed dead); leaving it to that "
                    "process", shape_label(run))
        return RunResult(run.run_id, "busy", None, None)
    finally:
        claims.release(claim)


def stale_claim_s(run: ResolvedRun) -> float:
    """Seconds without a heartbeat after which the run's claim belongs to a dead process."""
    return STALE_CLAIM_INTERVALS * run.config.train.checkpoint_interval_s


def tidy_finished(run: ResolvedRun) -> None:
    """Remove the checkpoint, temp files and claim that a process killed just after writing the result left.

    Only when the claim can be taken: a live process re-training the run (sweep.force) is left alone.
    """
    results_dir = Path(run.config.sweep.results_dir)
    ckpt, path = checkpoint_path(results_dir, run.run_id), claims.claim_path(results_dir, run.run_id)
    if not (ckpt.exists() or path.exists()):
        return
    claim = claims.try_claim(path, stale_claim_s(run))
    if claim is None:
        return
    try:
        ckpt.unlink(missing_ok=True)
        _remove_leftovers_of_killed_writers(results_dir, run.run_id)
    finally:
        claims.release(claim)


def _remove_leftovers_of_killed_writers(results_dir: Path, run_id: str) -> None:
    """Delete temp files of this run that a killed process left mid-write (we hold the claim, so none is live)."""
    for target in (checkpoint_path(results_dir, run_id), store.run_path(results_dir, run_id)):
        for tmp in store.remove_temp_files(target):
            log.info("run %s: removed %s left by an interrupted write", run_id[:8], tmp)


def _train_and_record(run: ResolvedRun, data: PreparedData, device: torch.device, beat: claims.Heartbeat,
                      parallel_jobs: int, force: bool, stop_after_step: int | None) -> RunResult:
    results_dir = Path(run.config.sweep.results_dir)
    ckpt = checkpoint_path(results_dir, run.run_id)
    if force:
        ckpt.unlink(missing_ok=True)
    torch.set_num_threads(threads_for(run.config.train.threads, parallel_jobs))
    log.info("%s: n_head %d, d_ff %d, peak lr %.3g, batch %d x %d tokens, %d steps (%d warm-up), %d threads",
             shape_label(run), run.gpt.n_head, run.gpt.d_ff, run.peak_lr, run.batch_size, run.gpt.n_ctx, run.steps,
             run.warmup_steps, torch.get_num_threads())
    progress = RunProgress(shape_label(run), run.tokens, run.config.train.progress_interval_s)

    trainer = Trainer(run, data, device, ckpt, on_row=progress, on_checkpoint=beat.check,
                      stop_after_step=stop_after_step)
    try:
        outcome = trainer.train()
    except CheckpointDataMismatch as exc:
        if exc.saved is None:
            raise ConfigError("sweep.results_dir", str(results_dir),
                              f"run {run.run_id[:8]}: its checkpoint {ckpt} was written before checkpoints recorded "
                              "their corpus, so it cannot be checked against the data: delete that file to train "
                              "this run from the start") from exc
        raise data_changed_error(run, "its checkpoint", exc.saved, exc.now) from exc
    beat.check()  # a process that lost the run while finishing leaves the result to the new owner
    meta = run_metadata(run, data, outcome, preset=run.config.sweep.preset)
    path = store.write_run(results_dir, curve_frame(run.run_id, outcome), meta)
    ckpt.unlink(missing_ok=True)
    log.info("%s: %s, final test loss %.4f, %.1fs", shape_label(run), outcome.status,
             meta["final_test_loss"], outcome.wall_time_s)
    return RunResult(run.run_id, "trained", path, outcome.status)


def run_config(cfg: RunConfig, grid: str = "single", compute_budget: float = math.nan, **kwargs) -> RunResult:
    """Resolve and execute one config."""
    return execute(resolve(cfg, grid, compute_budget), **kwargs)
