"""Timing of training steps: the project's trainer against the plain loop, interleaved, and the cost of evaluation."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

from harness.bench.plain_loop import PlainLoop
from harness.bench.shapes import BenchShape
from harness.data import PreparedData
from harness.device import synchronize
from harness.schedule import log_spaced_steps
from harness.trainer import Trainer, test_loss
from models.flops import TRAIN_FLOPS_PER_TOKEN

EVAL_REPEATS = 2  # evaluations timed per window set; their mean is the cost of one


def trainer_stepper(trainer: Trainer) -> Callable[[], None]:
    """One call = one step of the trainer's own machinery (Trainer._step: LR, batch, fwd/bwd, clip, AdamW; the loss
    stays on the device, as the trainer reads it only at its curve rows)."""
    counter = iter(range(10**12))

    def step() -> None:
        trainer._step(next(counter) % trainer.run.steps)

    return step


def timed_seconds(step: Callable[[], object], n_steps: int, device: torch.device) -> float:
    """Wall seconds of n_steps calls of `step`, the device synchronised at both ends."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_seconds(steppers: Dict[str, Callable], n_steps: int, rounds: int, warmup: int,
                        device: torch.device) -> Dict[str, List[float]]:
    """Seconds per round for each stepper, rounds alternating A B, B A, ... so machine drift hits all alike."""
    for step in steppers.values():
        timed_seconds(step, warmup, device)
    names = list(steppers)
    seconds: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            seconds[name].append(timed_seconds(steppers[name], n_steps, device))
    return seconds


def speed_ratios(reference_s: List[float], contender_s: List[float]) -> tuple[float, float, float]:
    """The contender's speed over the reference's in each interleaved block (reference seconds /
    contender seconds): (median, min, max). The median is robust to a burst of load in one block."""
    ratios = [r / c for r, c in zip(reference_s, contender_s)]
    return statistics.median(ratios), min(ratios), max(ratios)


def eval_seconds(trainer: Trainer, windows: torch.Tensor) -> float:
    """Mean wall seconds of one test-loss evaluation of `windows` with the trainer's own function."""
    test_loss(trainer.model, windows, trainer.device, trainer.run.micro_batch_size)  # warm-up
    synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(EVAL_REPEATS):
        test_loss(trainer.model, windows, trainer.device, trainer.run.micro_batch_size)
    synchronize(trainer.device)
    return (time.perf_counter() - start) / EVAL_REPEATS


def eval_fraction(run, step_s: float, curve_eval_s: float, final_eval_s: float) -> tuple[float, float]:
    """(eval seconds, eval share of the run's time): eval_points curve evaluations and a final full one."""
    n_evals = len(log_spaced_steps(run.steps, run.config.train.eval_points))
    evals = n_evals * curve_eval_s + final_eval_s
    return evals, evals / (evals + run.steps * step_s)


def measure_shape(shape: BenchShape, data: PreparedData, device: torch.device, n_steps: int, rounds: int,
                  warmup: int, peak: float, workdir: Path) -> dict:
    """Trainer vs plain loop tokens/s, FLOPs/s and MFU at one shape, and the eval share of its runs.

    trainer_over_plain is the median of the per-block speed ratios (robust to a burst of load in one
    block); the tokens/s columns are totals over all blocks.
    """
    run = shape.run
    trainer = Trainer(run, data, device, workdir / "bench-checkpoint.pt")
    plain = PlainLoop(run.gpt, run.batch_size, run.peak_lr, data.train_tokens, device)
    seconds = interleaved_seconds({"trainer": trainer_stepper(trainer), "plain": plain.step},
                                  n_steps, rounds, warmup, device)
    tokens = n_steps * run.tokens_per_step
    tps = {name: tokens * len(s) / sum(s) for name, s in seconds.items()}
    over_plain, ratio_min, ratio_max = speed_ratios(seconds["plain"], seconds["trainer"])
    flops = TRAIN_FLOPS_PER_TOKEN["exact"](run.gpt)
    row = {"preset": shape.preset, "shape": shape.label, "n_layer": run.gpt.n_layer, "d_model": run.gpt.d_model,
           "n_ctx": run.gpt.n_ctx, "vocab_size": run.gpt.vocab_size, "batch_size": run.batch_size,
           "params_non_embedding": run.params.non_embedding, "flops_per_token_exact": flops,
           "steps_timed": n_steps * rounds, "trainer_tokens_per_s": tps["trainer"], "plain_tokens_per_s": tps["plain"],
           "trainer_flops_per_s": tps["trainer"] * flops, "trainer_mfu": tps["trainer"] * flops / peak,
           "plain_mfu": tps["plain"] * flops / peak, "trainer_over_plain": over_plain,
           "ratio_min": ratio_min, "ratio_max": ratio_max}
    row.update(eval_cost(shape, trainer, run.tokens_per_step / tps["trainer"]))
    return row


def eval_cost(shape: BenchShape, trainer: Trainer, step_s: float) -> dict:
    """The eval share of the shape's longest run, and eval seconds / all seconds over all its planned runs."""
    curve_s, final_s = eval_seconds(trainer, trainer.test_curve), eval_seconds(trainer, trainer.test)
    per_run = [eval_fraction(run, step_s, curve_s, final_s) for run in shape.runs]
    total_eval = sum(e for e, _ in per_run)
    total_train = sum(run.steps * step_s for run in shape.runs)
    return {"curve_eval_s": curve_s, "final_eval_s": final_s,
            "tokens_shape_runs": sum(run.steps * run.tokens_per_step for run in shape.runs),
            "eval_fraction_longest_run": eval_fraction(shape.run, step_s, curve_s, final_s)[1],
            "eval_s_shape_runs": total_eval, "train_s_shape_runs": total_train,
            "eval_fraction_shape_runs": total_eval / (total_eval + total_train)}
