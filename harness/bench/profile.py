"""Where a training step's time goes: torch.profiler's self time per op, grouped into dense matmuls,
attention, the optimizer and everything else, with the FLOP rate each group reaches against the peak.

CPU only: on a GPU, ops return before their kernels finish, so CPU self time says nothing about them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import torch
from torch.profiler import ProfilerActivity, profile

from harness.bench.shapes import BenchShape
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.trainer import Trainer
from models.flops import forward_flops_breakdown

MATMUL = "dense matmuls"
ATTENTION = "attention (SDPA)"
OPTIMIZER = "optimizer (AdamW)"
OTHER = "everything else"
CATEGORIES = (MATMUL, ATTENTION, OPTIMIZER, OTHER)
MATMUL_OPS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"})
# Training counts the backward pass as twice the forward (Hoffmann 2022 app. F; Kaplan 2020 sec. 2.1),
# as the exact convention of models.flops does.
TRAIN_OVER_FORWARD = 3


def op_category(name: str) -> str:
    """The group of a profiled op: its name decides (forward and backward ops alike)."""
    if name in MATMUL_OPS:
        return MATMUL
    if "scaled_dot_product" in name:
        return ATTENTION
    if "adamw" in name.lower():
        return OPTIMIZER
    return OTHER


def category_shares(self_times: Iterable[Tuple[str, float]]) -> Dict[str, float]:
    """(op name, self time) pairs -> each category's share of the total self time (every category present)."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for name, seconds in self_times:
        totals[op_category(name)] += seconds
    whole = sum(totals.values())
    if whole <= 0:
        raise ValueError("the profile recorded no op time")
    return {c: t / whole for c, t in totals.items()}


def category_flops_per_token(shape: BenchShape) -> Dict[str, float]:
    """Training FLOPs per token of the groups that do counted arithmetic (models.flops' exact terms)."""
    f = forward_flops_breakdown(shape.run.gpt)
    return {MATMUL: TRAIN_OVER_FORWARD * (f.attn_qkv + f.attn_out + f.mlp + f.logits),
            ATTENTION: TRAIN_OVER_FORWARD * (f.attn_logits + f.attn_softmax + f.attn_values)}


def profile_step(shape: BenchShape, data: PreparedData, n_steps: int, warmup: int, peak_flops_per_s: float,
                 workdir: Path) -> List[dict]:
    """One row per category for the trainer's step at `shape` on the CPU: ms per step, share, FLOP rate."""
    cpu = torch.device("cpu")
    step = trainer_stepper(Trainer(shape.run, data, cpu, workdir / "profile-checkpoint.pt"))
    timed_seconds(step, warmup, cpu)
    step_s = timed_seconds(step, n_steps, cpu) / n_steps  # unprofiled: the profiler adds time per op
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        timed_seconds(step, n_steps, cpu)
    shares = category_shares((e.key, e.self_cpu_time_total) for e in prof.key_averages())
    flops = category_flops_per_token(shape)
    rows = []
    for category, share in shares.items():
        seconds = share * step_s
        flop_per_step = flops.get(category, float("nan")) * shape.run.tokens_per_step
        rate = flop_per_step / seconds if seconds > 0 else float("nan")
        rows.append({"preset": shape.preset, "shape": shape.label, "threads": torch.get_num_threads(),
                     "category": category, "ms_per_step": 1e3 * seconds, "share": share,
                     "gflop_per_step": flop_per_step / 1e9, "gflops_per_s": rate / 1e9,
                     "fraction_of_peak": rate / peak_flops_per_s})
    return rows
