"""Train M runs of one shape as one batched model (models/packed_gpt.py), each member as its run alone would.

Each member is initialised as harness.trainer.Trainer initialises its run (torch.manual_seed(seed), then
build_model), draws its own batches (TrainWindows with its seed), follows its own schedule, and keeps its
own AdamW state (harness/pack_optim.py), gradient clip, curve rows (the Trainer's row and eval steps),
divergence verdict and checkpoint, in the Trainer's format: a member's checkpoint resumes as an ordinary
run, and an ordinary run's checkpoint resumes as a member. Which runs may pack: harness/packing.py.

The loss is kept on the device and read at row steps, checkpoints and the end, not every step; a member
whose loss turns non-finite is found there and recorded at the step it turned, as the Trainer records it.
A member that finishes or diverges leaves the pack (its slice is cut out of every stacked tensor).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from harness.checkpoint import load_checkpoint, log_resumed, save_checkpoint
from harness.data import PreparedData, TrainWindows, test_windows
from harness.device import autocast_for
from harness.divergence import find_divergence, mark_diverged, non_finite, train_unigram_loss
from harness.evaluate import final_test_losses, test_loss
from harness.pack_optim import PackedAdamW
from harness.resolve import ResolvedRun
from harness.trainer import (CheckpointDataMismatch, CurveState, RunInterrupted, TrainOutcome,
                             evenly_spaced_subset, make_optimizer, whole_run_steps)
from harness.trunks import trunk_segment_steps
from models.families import build_model
from models.flops import TRAIN_FLOPS_PER_TOKEN
from models.packed_gpt import packed_losses


def member_steps(run: ResolvedRun) -> tuple[frozenset, frozenset]:
    """(row steps, eval steps) of a run trained whole: the Trainer's; for a wsd run of one budget, its trunk's
    grid up to the fork and the branch's after it, so its curve is the one its trunk and branch record."""
    rows, evals = whole_run_steps(run)
    if not run.trunk_id:
        return rows, evals
    trunk_rows, trunk_evals = trunk_segment_steps(run.fork_step)
    after = lambda steps: frozenset(s for s in steps if s > run.fork_step)  # noqa: E731
    return trunk_rows | after(rows), trunk_evals | after(evals)


@dataclass
class Member:
    """One run of the pack and everything of it that is not stacked."""

    run: ResolvedRun
    ckpt_path: Path
    sampler: TrainWindows
    template: dict
    """Its own torch AdamW's state_dict (param groups), the format its checkpoint's optimizer state takes."""
    state: CurveState


class PackedTrainer:
    """Trains `runs` (one shape, steps, batch and data; harness.packing.pack_key) together on `device`.

    on_row(i, row) gets member i's curve rows; on_done(i, outcome) each member's outcome as it finishes or
    diverges; keep_member(i) is asked before each checkpoint of member i, and False drops it from the pack
    (its claim was lost) without an outcome. stop_after_step: for tests, a checkpoint then RunInterrupted.
    """

    def __init__(self, runs: Sequence[ResolvedRun], data: PreparedData, device: torch.device,
                 ckpt_paths: Sequence[Path], on_row: Optional[Callable[[int, dict], None]] = None,
                 on_done: Optional[Callable[[int, TrainOutcome], None]] = None,
                 keep_member: Optional[Callable[[int], bool]] = None, stop_after_step: Optional[int] = None):
        first = runs[0]
        self.gpt, self.device, self.fingerprint = first.gpt, device, data.fingerprint
        self.on_row = on_row or (lambda i, row: None)
        self.on_done = on_done or (lambda i, outcome: None)
        self.keep_member = keep_member or (lambda i: True)
        self.stop_after_step = stop_after_step
        self.row_steps, self.eval_steps = member_steps(first)
        models = []
        for run in runs:  # exactly the Trainer's initialisation of each run
            torch.manual_seed(run.config.train.seed)
            models.append(build_model(run.gpt).to(device))
        self.module = models[0]  # evaluates and saves one member at a time (its weights are overwritten)
        names = {id(p): n for n, p in self.module.named_parameters()}
        optimizers = [make_optimizer(self.module, run, device) for run in runs]
        self.order = [names[id(p)] for g in optimizers[0].param_groups for p in g["params"]]
        decay = {names[id(p)]: g["weight_decay"] > 0 for g in optimizers[0].param_groups for p in g["params"]}
        self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).requires_grad_()
                       for n in names.values()}
        t = first.config.train
        self.opt = PackedAdamW(self.params, decay, t.beta1, [r.config.train.beta2 for r in runs], t.weight_decay)
        self.members = [Member(run, path, TrainWindows(data.train_tokens, run.gpt.n_ctx, run.batch_size, run.tokens,
                                                       run.config.train.seed, run.config.data.allow_repeat),
                               opt.state_dict(), CurveState())
                        for run, path, opt in zip(runs, ckpt_paths, optimizers)]
        self.active = list(range(len(runs)))  # member indices, in the order of the stacked dim 0
        self.test = test_windows(data, first.gpt.n_ctx, first.config.data.test_windows)
        self.test_curve = evenly_spaced_subset(self.test, t.curve_test_windows)
        self.flops_per_token = {k: f(first.gpt) for k, f in TRAIN_FLOPS_PER_TOKEN.items()}
        self.unigram_nats = train_unigram_loss(data)
        self._reset_accumulators()

    def _reset_accumulators(self) -> None:
        n = len(self.active)
        self.loss_sum = torch.zeros(n, dtype=torch.float64, device=self.device)
        self.bad_step = torch.full((n,), -1, dtype=torch.int64, device=self.device)
        self.bad_loss = torch.zeros(n, dtype=torch.float64, device=self.device)
        self.loss_count = 0

    # --- one member's weights in the plain module, its checkpoint ------------------------------------------------

    @torch.no_grad()
    def _load_into_module(self, j: int) -> None:
        for name, p in self.module.named_parameters():
            p.copy_(self.params[name][j])

    def _save(self, j: int, lr: float) -> None:
        i = self.active[j]
        member = self.members[i]
        self._load_into_module(j)
        save_checkpoint(member.ckpt_path, {
            "model": self.module.state_dict(),
            "optimizer": self.opt.member_state_dict(j, member.template, self.order, lr),
            "curve": vars(member.state).copy(), "corpus_fingerprint": self.fingerprint,
        })

    @torch.no_grad()
    def _resume(self) -> None:
        """Each member from its checkpoint, where it has one; every member must then be at the same step."""
        for j, member in enumerate(self.members):
            saved = load_checkpoint(member.ckpt_path, self.device)
            if saved is None:
                continue
            if saved.get("corpus_fingerprint") != self.fingerprint:
                raise CheckpointDataMismatch(saved.get("corpus_fingerprint"), self.fingerprint, member.ckpt_path)
            for name, stacked in self.params.items():
                stacked[j].copy_(saved["model"][name])
            self.opt.load_member(j, saved["optimizer"], self.order)
            member.state = CurveState(**saved["curve"])
            log_resumed(member.run.run_id, member.ckpt_path, member.state.step, member.run.steps)
        steps = {m.state.step for m in self.members}
        if len(steps) > 1 or self.opt.steps != steps.pop():
            raise ValueError(f"pack members saved at different steps {sorted(m.state.step for m in self.members)}: "
                             "harness/pack_runner.py packs only members at one step")

    # --- the loop --------------------------------------------------------------------------------------------------

    def _step(self, step: int) -> List[float]:
        """One update of every active member; returns their learning rates."""
        members = [self.members[i] for i in self.active]
        lrs = [m.run.schedule.lr(step) for m in members]
        batches = [m.sampler.batch(step) for m in members]
        x = torch.stack([b[0] for b in batches]).to(self.device, non_blocking=True)
        y = torch.stack([b[1] for b in batches]).to(self.device, non_blocking=True)
        with autocast_for(self.device):
            losses = packed_losses(self.params, self.gpt, x, y)
        losses.sum().backward()  # members are independent, so each slice gets its own member's gradient
        clip = members[0].run.config.train.grad_clip
        if clip > 0:
            self.opt.clip_grad_norm_(clip)
        self.opt.step(lrs)
        for p in self.params.values():
            p.grad = None
        losses = losses.detach().double()
        turned = ~torch.isfinite(losses) & (self.bad_step < 0)
        self.bad_step = torch.where(turned, step + 1, self.bad_step)
        self.bad_loss = torch.where(turned, losses, self.bad_loss)
        self.loss_sum += losses
        self.loss_count += 1
        return lrs

    def train(self) -> None:
        """Run (or resume) every member to its last step, or until it diverges; outcomes go to on_done."""
        self._resume()
        self._settle(self.opt.steps, {}, row_step=False)
        end = self.members[0].run.steps
        interval = self.members[0].run.config.train.checkpoint_interval_s
        last_ckpt = time.perf_counter()
        while self.active and self.opt.steps < end:
            t0 = time.perf_counter()
            lrs = self._step(self.opt.steps)
            step = self.opt.steps
            share = (time.perf_counter() - t0) / len(self.active)  # each member's part of the step's time
            for i in self.active:
                self.members[i].state.step = step
                self.members[i].state.elapsed_s += share
            due = time.perf_counter() - last_ckpt >= interval
            stop = self.stop_after_step is not None and step >= self.stop_after_step
            lr_of = dict(zip(self.active, lrs))
            if due or stop or step in self.row_steps or step == end:
                self._settle(step, lr_of, row_step=step in self.row_steps)
            if due or stop:
                self._checkpoint(lr_of)
                last_ckpt = time.perf_counter()
            if stop:
                raise RunInterrupted(f"stopped after step {step} (stop_after_step)")

    def _checkpoint(self, lr_of: Dict[int, float]) -> None:
        """Save every active member whose claim is still held; drop the others."""
        self._drop([i for i in self.active if not self.keep_member(i)])
        for j, i in enumerate(self.active):
            self._save(j, lr_of[i])

    def _settle(self, step: int, lr_of: Dict[int, float], row_step: bool) -> None:
        """Read the device's loss sums into each member's state; record rows, divergences and completions; let
        finished members go. `lr_of` maps member index to the rate of the step just taken."""
        sums, bad, bad_loss = self.loss_sum.tolist(), self.bad_step.tolist(), self.bad_loss.tolist()
        count, finished = self.loss_count, []
        for j, i in enumerate(self.active):
            s, run = self.members[i].state, self.members[i].run
            if s.status != "running":  # resumed from a state saved after it ended
                finished.append(i)
                continue
            if bad[j] >= 0:
                s.step = bad[j]
                mark_diverged(s, non_finite(bad[j], bad_loss[j]), f"run {run.run_id[:8]}")
                finished.append(i)
                continue
            s.loss_sum, s.loss_count = s.loss_sum + sums[j], s.loss_count + count
            if row_step:
                row = self._row(j, step, lr_of[i])
                s.rows.append(row)
                self.on_row(i, row)
                if (found := find_divergence(s.rows, self.unigram_nats, run.steps)) is not None:
                    mark_diverged(s, found, f"run {run.run_id[:8]}")
                    finished.append(i)
                    continue
            if step == run.steps:
                s.status = "completed"
                finished.append(i)
        for i in finished:
            self.on_done(i, self._outcome(i))
        self._drop(finished)
        self._reset_accumulators()  # their sums are in the members' states now

    def _row(self, j: int, step: int, lr: float) -> dict:
        """Member j's curve row after `step`, as Trainer._row writes it (its eval time counted as its own)."""
        start = time.perf_counter()
        member = self.members[self.active[j]]
        s, run = member.state, member.run
        tokens = step * run.tokens_per_step
        row = {"step": step, "tokens": tokens, "train_loss": s.loss_sum / max(1, s.loss_count), "lr": lr,
               "test_loss": math.nan}
        if step in self.eval_steps or step == run.steps:
            self._load_into_module(j)
        if step in self.eval_steps:
            row["test_loss"], _ = test_loss(self.module, self.test_curve, self.device, run.batch_size)
        if step == run.steps:
            s.final_test_loss, s.final_test_loss_sem, s.final_test_loss_by_position = final_test_losses(
                self.module, self.test, self.device, run.batch_size)
        row.update({f"compute_{k}": float(f * tokens) for k, f in self.flops_per_token.items()})
        s.loss_sum, s.loss_count = 0.0, 0
        s.elapsed_s += time.perf_counter() - start
        row["elapsed_s"] = s.elapsed_s
        return row

    def _outcome(self, i: int) -> TrainOutcome:
        member = self.members[i]
        s = member.state
        return TrainOutcome(rows=s.rows, status=s.status, diverged_step=s.diverged_step,
                            diverged_rule=s.diverged_rule, wall_time_s=s.elapsed_s, epochs=member.sampler.epochs,
                            device=str(self.device), final_test_loss=s.final_test_loss,
                            final_test_loss_sem=s.final_test_loss_sem,
                            final_test_loss_by_position=s.final_test_loss_by_position)

    def _drop(self, leaving: Sequence[int]) -> None:
        """Cut the slices of `leaving` (member indices) out of every stacked tensor (called only when the loss
        accumulators have just been read, so they restart empty)."""
        if not leaving:
            return
        keep = [j for j, i in enumerate(self.active) if i not in leaving]
        index = torch.tensor(keep, dtype=torch.int64, device=self.device)
        self.params = {n: p.detach()[index].clone().requires_grad_() for n, p in self.params.items()}
        self.opt.keep(keep, self.params)
        self.active = [self.active[j] for j in keep]
        self._reset_accumulators()
