"""What could make the trainer's step faster: each candidate change timed against the trainer as it is, interleaved.

Every variant is the trainer's step (Trainer._step) with exactly one thing changed, on its own
Trainer (same seed, model, optimizer groups and batches); the last one combines the per-step changes
(dropping the clip changes results: it measures what clipping costs, it is not a candidate). The plain
loop is timed alongside as the reference.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from harness.bench.plain_loop import PlainLoop
from harness.bench.shapes import BenchShape
from harness.bench.timing import interleaved_seconds, speed_ratios, timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.device import autocast_for, compiled
from harness.schedule import lr_at
from harness.trainer import Trainer

COMPILE_WARMUP_STEPS = 3  # steps that trigger (re)compilation, timed as the compile cost
ATTENTION_BACKENDS = {"math": SDPBackend.MATH}
COMPILE_VARIANT = "torch.compile(model) (train.compile=default)"


@dataclass(frozen=True)
class StepOptions:
    """How a variant's step differs from Trainer._step (the defaults reproduce it)."""

    adamw: str = "trainer"  # 'trainer' (as make_optimizer builds it), 'fused' or 'foreach'
    read_loss_each_step: bool = False  # the trainer keeps step losses on the device until a curve row reads them
    grad_clip: bool = True
    set_to_none: bool = True
    matmul_precision: str = "highest"
    threads: int = 0  # 0: leave the process's setting
    compile: str = "none"  # a train.compile mode
    attention: str = "auto"  # 'auto': SDPA picks its kernel (flash on the CPU); 'math': SDPA's unfused backend


BASE = StepOptions()
VARIANTS: Dict[str, StepOptions] = {
    "replica (no change)": BASE,
    "foreach AdamW (the trainer's CPU default before fused won)": replace(BASE, adamw="foreach"),
    "float(loss) every step (the trainer before its losses stayed on the device)": replace(BASE, read_loss_each_step=True),
    "no grad clip": replace(BASE, grad_clip=False),
    "zero_grad(set_to_none=False)": replace(BASE, set_to_none=False),
    "matmul precision 'medium'": replace(BASE, matmul_precision="medium"),
    "1 thread": replace(BASE, threads=1),
    "SDPA math backend (unfused attention)": replace(BASE, attention="math"),
    "no grad clip, set_to_none=False": replace(BASE, grad_clip=False, set_to_none=False),
}


def rebuilt_adamw(opt: torch.optim.AdamW, kind: str) -> torch.optim.AdamW:
    """The same AdamW groups and hyperparameters with the 'fused' or the 'foreach' kernel."""
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in opt.param_groups]
    d = opt.defaults
    fused = kind == "fused"
    return torch.optim.AdamW(groups, lr=d["lr"], betas=d["betas"], eps=d["eps"], fused=fused, foreach=not fused)


def attention_backend(kind: str):
    """A context in which F.scaled_dot_product_attention uses `kind`'s kernel ('auto': its own choice)."""
    if kind == "auto":
        return contextlib.nullcontext()
    return sdpa_kernel(ATTENTION_BACKENDS[kind])


def _apply_globals(opts: StepOptions) -> None:
    if opts.threads and torch.get_num_threads() != opts.threads:
        torch.set_num_threads(opts.threads)
    if torch.get_float32_matmul_precision() != opts.matmul_precision:
        torch.set_float32_matmul_precision(opts.matmul_precision)


def variant_stepper(trainer: Trainer, opts: StepOptions, default_threads: int) -> Callable[[], None]:
    """Trainer._step's body with the changes of `opts` (global settings are switched per call)."""
    run, t = trainer.run, trainer.run.config.train
    opt = trainer.opt if opts.adamw == "trainer" else rebuilt_adamw(trainer.opt, opts.adamw)
    model = compiled(trainer.model, opts.compile)
    opts = opts if opts.threads else replace(opts, threads=default_threads)
    counter, losses = iter(range(10**12)), []

    def step() -> None:
        _apply_globals(opts)
        i = next(counter) % run.steps
        for group in opt.param_groups:
            group["lr"] = lr_at(i, run.peak_lr, run.warmup_steps, run.steps, t.final_lr_ratio)
        x, y = (b.to(trainer.device, non_blocking=True) for b in trainer.sampler.batch(i))
        with autocast_for(trainer.device), attention_backend(opts.attention):
            _, loss = model(x, y)
        loss.backward()
        if opts.grad_clip and t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), t.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=opts.set_to_none)
        losses.append(float(loss.detach()) if opts.read_loss_each_step else loss.detach().clone())

    return step


def variant_steppers(shape: BenchShape, data: PreparedData, device: torch.device, workdir: Path,
                     variants: Dict[str, StepOptions]) -> Dict[str, Callable]:
    """'trainer (as is)', every variant and 'plain loop', each on its own freshly built model."""
    run, threads = shape.run, torch.get_num_threads()
    build = lambda: Trainer(run, data, device, workdir / "bench-checkpoint.pt")  # noqa: E731
    defaults = replace(BASE, threads=threads)
    steppers = {"trainer (as is)": with_globals(trainer_stepper(build()), defaults)}
    steppers.update({name: variant_stepper(build(), opts, threads) for name, opts in variants.items()})
    plain = PlainLoop(run.gpt, run.batch_size, run.peak_lr, data.train_tokens, device)
    steppers["plain loop"] = with_globals(plain.step, defaults)
    return steppers


def with_globals(step: Callable, opts: StepOptions) -> Callable[[], None]:
    """`step` run under the threads and matmul precision of `opts` (another variant may have changed them)."""
    def wrapped() -> None:
        _apply_globals(opts)
        step()

    return wrapped


def compare_variants(shape: BenchShape, data: PreparedData, device: torch.device, workdir: Path, n_steps: int,
                     rounds: int, warmup: int, with_compile: bool) -> List[dict]:
    """Tokens/s of each variant and its speed-up over the trainer as it is: median of the per-block ratios, min, max."""
    variants = dict(VARIANTS)
    compile_s = float("nan")
    if with_compile:
        variants[COMPILE_VARIANT] = replace(BASE, compile="default")
    steppers = variant_steppers(shape, data, device, workdir, variants)
    if with_compile:
        start = time.perf_counter()
        timed_seconds(steppers[COMPILE_VARIANT], COMPILE_WARMUP_STEPS, device)
        compile_s = time.perf_counter() - start
    threads = torch.get_num_threads()
    seconds = interleaved_seconds(steppers, n_steps, rounds, warmup, device)
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("highest")
    base = seconds["trainer (as is)"]
    tokens = n_steps * shape.run.tokens_per_step
    rows = []
    for name, s in seconds.items():
        over_trainer, ratio_min, ratio_max = speed_ratios(base, s)
        rows.append({"shape": shape.label, "variant": name, "threads": threads,
                     "tokens_per_s": tokens * len(s) / sum(s),
                     "over_trainer": over_trainer, "ratio_min": ratio_min, "ratio_max": ratio_max,
                     "compile_s": compile_s if name == COMPILE_VARIANT else float("nan")})
    return rows
