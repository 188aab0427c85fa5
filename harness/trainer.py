"""The training loop of one run: AdamW, its schedule to exactly D tokens, log-spaced test loss, checkpoints.

The loop can also train one segment of a run (harness/trunks.py): from a saved state to an end step,
keeping the state at given steps (a trunk's fork points), or from a fork state to the end (a branch).
Step losses stay on the device: the loop reads them (one host sync) only at curve rows, saves and the segment's
end (nanoGPT reads its loss at its log interval only; a per-step read stalls a GPU's queue).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from harness.checkpoint import load_checkpoint, log_resumed, save_checkpoint
from harness.data import PreparedData, TrainWindows, test_windows
from harness.divergence import find_divergence, mark_diverged, non_finite, train_unigram_loss
from harness.device import autocast_for, compiled
from harness.evaluate import final_test_losses, per_window_test_losses, sem, test_loss  # noqa: F401 (re-exported)
from harness.resolve import ResolvedRun
from harness.schedule import evenly_spaced_steps, log_spaced_steps
from models.families import build_model
from models.flops import TRAIN_FLOPS_PER_TOKEN


class RunInterrupted(Exception):
    """Raised by a test-only stop point after the checkpoint is written, as a kill would leave it."""


@dataclass
class CurveState:
    """Everything of the loop that a checkpoint must restore besides model and optimizer."""

    step: int = 0
    elapsed_s: float = 0.0
    rows: list = field(default_factory=list)
    loss_sum: float = 0.0
    loss_count: int = 0
    status: str = "running"
    diverged_step: int = -1
    diverged_rule: str = ""  # which harness.divergence rule fired; '' while none has
    final_test_loss: float = math.nan
    """Loss on the whole held-out set after the last step (the curve uses a fixed subset throughout)."""
    final_test_loss_sem: float = math.nan
    final_test_loss_by_position: list = field(default_factory=list)
    """The whole held-out set's mean loss at each position of the context (Kaplan 2020 Fig. 20)."""


@dataclass
class TrainOutcome:
    """What a finished (or diverged) run hands to the recorder."""

    rows: list
    status: str
    diverged_step: int
    diverged_rule: str
    wall_time_s: float
    epochs: float
    device: str
    final_test_loss: float
    final_test_loss_sem: float
    final_test_loss_by_position: list = field(default_factory=list)


def make_optimizer(model: torch.nn.Module, run: ResolvedRun, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (biases, LayerNorm and embeddings are not decayed)."""
    t = run.config.train
    embeddings = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in embeddings]
    no_decay = [p for p in model.parameters() if p.dim() < 2 or id(p) in embeddings]
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel on CPU as on CUDA: 1-3% more tokens/s than foreach on the toy shapes, in each of four
    # interleaved measurements on 2 cores (scripts/bench.py --variants; docs/speed.md).
    return torch.optim.AdamW(groups, lr=run.peak_lr, betas=(t.beta1, t.beta2), fused=True)


def evenly_spaced_subset(windows: torch.Tensor, n: int) -> torch.Tensor:
    """n rows of `windows`, evenly spaced (all of them when n >= their count)."""
    if n >= len(windows):
        return windows
    return windows[torch.arange(n) * len(windows) // n]


@dataclass(frozen=True)
class Segment:
    """Which steps of a run this trainer trains and records; the default is the whole run."""

    end_step: int
    """Stop after this many optimizer steps (the run's steps for a whole run or a branch)."""
    row_steps: frozenset
    """Steps after which a curve row is recorded."""
    eval_steps: frozenset
    """Steps whose row carries a test loss (a subset of row_steps)."""
    resume_from: Optional[Path] = None
    """The saved state to start from (a checkpoint, a trunk's kept state); None starts at step 0."""
    keep: tuple = ()
    """(step, path) pairs: after these steps the state is also saved to path, and kept (a trunk's forks)."""
    fallback: Optional[Path] = None
    """The state to start from instead when resume_from cannot be read (it is moved aside): a branch's fork state
    behind its own checkpoint, a trunk's kept state behind the trunk's checkpoint. None: step 0."""


def whole_run_steps(run: ResolvedRun) -> tuple[frozenset, frozenset]:
    """(row steps, eval steps) of an uninterrupted run: log-spaced test points plus evenly spaced train rows."""
    t = run.config.train
    evals = frozenset(log_spaced_steps(run.steps, t.eval_points))
    return evals | frozenset(evenly_spaced_steps(run.steps, t.train_log_points)), evals


def whole_run(run: ResolvedRun, ckpt_path: Path) -> Segment:
    """The segment of an ordinary run: every step, resuming from its checkpoint when there is one."""
    rows, evals = whole_run_steps(run)
    return Segment(run.steps, rows, evals, ckpt_path if ckpt_path.exists() else None)


class CheckpointDataMismatch(Exception):
    """A checkpoint was written while training on other text than the run's data now holds."""

    def __init__(self, saved: Optional[str], now: str, path: Optional[Path] = None):
        self.saved, self.now, self.path = saved, now, path  # saved is None before fingerprints were saved
        super().__init__(f"checkpoint {path} of corpus {saved}, data now {now}")


class ForeignState(Exception):
    """A saved state that belongs to another run or trunk than the one loading it, or a fork state that could not
    be read."""

    def __init__(self, path: Path, why: str):
        self.path = path
        super().__init__(f"{path}: {why}")


class Trainer:
    """Trains one resolved run on prepared data, checkpointing to `ckpt_path`, reporting via `on_row`."""

    def __init__(self, run: ResolvedRun, data: PreparedData, device: torch.device, ckpt_path: Path,
                 on_row: Optional[Callable[[dict], None]] = None,
                 on_checkpoint: Optional[Callable[[], None]] = None, stop_after_step: Optional[int] = None,
                 segment: Optional[Segment] = None, state_tag: Optional[dict] = None):
        self.run, self.device, self.ckpt_path = run, device, ckpt_path
        self.segment = segment or whole_run(run, ckpt_path)
        self.state_tag = state_tag or {}  # saved with every state and checked on load (a trunk's id)
        self.corpus_fingerprint = data.fingerprint
        self.on_row = on_row or (lambda row: None)
        self.on_checkpoint = on_checkpoint or (lambda: None)
        self.stop_after_step = stop_after_step  # for tests: simulate an interruption
        t = run.config.train
        torch.manual_seed(t.seed)
        self.model = build_model(run.gpt).to(device)
        self.step_model = compiled(self.model, t.compile)  # training steps only; evaluation stays eager
        self.opt = make_optimizer(self.model, run, device)
        self.sampler = TrainWindows(data.train_tokens, run.gpt.n_ctx, run.batch_size, run.tokens, t.seed,
                                    run.config.data.allow_repeat)
        self.test = test_windows(data, run.gpt.n_ctx, run.config.data.test_windows)
        self.test_curve = evenly_spaced_subset(self.test, t.curve_test_windows)
        self.schedule = run.schedule
        self.eval_steps, self.row_steps = self.segment.eval_steps, self.segment.row_steps
        self.keep = dict(self.segment.keep)
        self.flops_per_token = {k: f(run.gpt) for k, f in TRAIN_FLOPS_PER_TOKEN.items()}
        self.state = CurveState()
        self.pending_losses: list = []  # step losses on the device since the state last read them (_read_losses)
        self.unigram_nats = train_unigram_loss(data)  # the divergence rules' ceiling

    def _resume(self) -> None:
        source = self.segment.resume_from
        saved = None if source is None else load_checkpoint(source, self.device)
        if saved is None and source == self.ckpt_path and self.segment.fallback is not None:
            source = self.segment.fallback  # its own checkpoint could not be read (moved aside): start from here
            saved = load_checkpoint(source, self.device)
        if saved is None and source is not None and source != self.ckpt_path:
            raise ForeignState(source, "could not be read and was moved aside; re-run to train the trunk to this "
                                       "fork again")
        if saved is None:
            return
        if saved.get("corpus_fingerprint") != self.corpus_fingerprint:
            raise CheckpointDataMismatch(saved.get("corpus_fingerprint"), self.corpus_fingerprint, source)
        for key, value in self.state_tag.items():
            if saved.get(key) != value:
                raise ForeignState(source, f"has {key} {saved.get(key)!r}, expected {value!r} (another run's or "
                                           "trunk's state under this name): move that file away to train from the start")
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        self.state = CurveState(**saved["curve"])
        if source == self.ckpt_path:  # a branch starting at its fork is no resumption (harness/runner.py logs it)
            log_resumed(self.run.run_id, source, self.state.step, self.run.steps)

    def _save(self, path: Path) -> None:
        if self.pending_losses:
            raise RuntimeError(f"{len(self.pending_losses)} step losses not yet read into the saved state")
        save_checkpoint(path, {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "curve": vars(self.state).copy(),
            "corpus_fingerprint": self.corpus_fingerprint, **self.state_tag,
        })

    def _checkpoint(self) -> None:
        self.on_checkpoint()
        self._save(self.ckpt_path)

    def _row(self, step: int, lr: float) -> dict:
        s = self.state
        tokens = step * self.run.tokens_per_step
        row = {"step": step, "tokens": tokens, "train_loss": s.loss_sum / max(1, s.loss_count), "lr": lr,
               "test_loss": math.nan}
        if step in self.eval_steps:  # the same windows at every point, so curves are continuous
            row["test_loss"], _ = test_loss(self.model, self.test_curve, self.device, self.run.micro_batch_size)
        if step == self.run.steps:
            s.final_test_loss, s.final_test_loss_sem, s.final_test_loss_by_position = final_test_losses(
                self.model, self.test, self.device, self.run.micro_batch_size)
        row.update({f"compute_{k}": float(f * tokens) for k, f in self.flops_per_token.items()})
        s.loss_sum, s.loss_count = 0.0, 0
        return row

    def _step(self, step: int) -> tuple[torch.Tensor, float]:
        """One optimizer step: (its mean train loss, still on the device and unread, so no host sync; its lr)."""
        t = self.run.config.train
        lr = self.schedule.lr(step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x, y = (b.to(self.device, non_blocking=True) for b in self.sampler.batch(step))
        loss = self._forward_backward(x, y)
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss, lr

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradients of the batch's mean loss, accumulated over micro-batches; that loss, detached."""
        chunks = self.run.batch_size // self.run.micro_batch_size
        if chunks == 1:  # the whole batch at once, with no scaling: bit-identical to a loop without micro-batches
            with autocast_for(self.device):
                _, loss = self.step_model(x, y)
            loss.backward()
            # A copy: under train.compile's CUDA graphs the next step's replay overwrites the module's outputs,
            # and this loss is kept until the losses are read.
            return loss.detach().clone()
        total = None
        for xc, yc in zip(x.chunk(chunks), y.chunk(chunks)):
            with autocast_for(self.device):
                _, loss = self.step_model(xc, yc)
            loss = loss / chunks  # equal chunks: their mean losses times micro / batch add up to the batch's mean
            loss.backward()
            total = loss.detach() if total is None else total + loss.detach()
        return total

    def _read_losses(self) -> bool:
        """Add the step losses kept on the device since the last read to the curve state, in step order (one
        host sync). False when one is not finite: the run is then marked diverged at that step, exactly."""
        s, pending = self.state, self.pending_losses
        if not pending:
            return True
        first_step, self.pending_losses = s.step - len(pending) + 1, []
        for i, loss in enumerate(torch.stack(pending).tolist()):
            if not math.isfinite(loss):
                mark_diverged(s, non_finite(first_step + i, loss), f"run {self.run.run_id[:8]}")
                return False
            s.loss_sum, s.loss_count = s.loss_sum + loss, s.loss_count + 1
        return True

    def train(self) -> TrainOutcome:
        """Run (or resume) to the end of the segment (the token budget), or until a divergence rule fires: a
        non-finite step loss is found at the next read of the losses (the next row at the latest)."""
        self._resume()
        s, interval = self.state, self.run.config.train.checkpoint_interval_s
        last_ckpt = time.perf_counter()
        while s.status == "running" and s.step < self.segment.end_step:
            t0 = time.perf_counter()
            loss, lr = self._step(s.step)
            s.step += 1
            self.pending_losses.append(loss)
            checkpoint_due = time.perf_counter() - last_ckpt >= interval
            stopping = self.stop_after_step is not None and s.step >= self.stop_after_step
            # One read of the losses (a host sync) where the state must hold them: a row, a save, the segment's end.
            must_read = checkpoint_due or stopping or s.step in self.keep or s.step == self.segment.end_step
            if (must_read or s.step in self.row_steps) and not self._read_losses():
                break
            if s.step in self.row_steps:
                row = self._row(s.step, lr)
                s.elapsed_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                row["elapsed_s"] = s.elapsed_s
                s.rows.append(row)
                self.on_row(row)
                if (found := find_divergence(s.rows, self.unigram_nats, self.run.steps)) is not None:
                    mark_diverged(s, found, f"run {self.run.run_id[:8]}")
                    break
            s.elapsed_s += time.perf_counter() - t0
            if s.step in self.keep:
                self.on_checkpoint()
                self._save(self.keep[s.step])
            if checkpoint_due:
                self._checkpoint()
                last_ckpt = time.perf_counter()
            if stopping:
                self._checkpoint()
                raise RunInterrupted(f"stopped after step {s.step} (stop_after_step)")
        if s.status == "diverged":  # branches that fork after the divergence record it
            for step, path in self.keep.items():
                if step >= s.step:
                    self._save(path)
        if s.status == "running" and s.step == self.run.steps:
            s.status = "completed"
        return self._outcome()

    def _outcome(self) -> TrainOutcome:
        s = self.state
        return TrainOutcome(rows=s.rows, status=s.status, diverged_step=s.diverged_step,
                            diverged_rule=s.diverged_rule,
                            wall_time_s=s.elapsed_s, epochs=self.sampler.epochs, device=str(self.device),
                            final_test_loss=s.final_test_loss, final_test_loss_sem=s.final_test_loss_sem,
                            final_test_loss_by_position=s.final_test_loss_by_position)
