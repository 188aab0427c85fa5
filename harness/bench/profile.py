"""Where a training step's time goes: torch.profiler's self time per op, grouped into dense matmuls,
attention, the optimizer, everything else, and the time outside any torch op; with the FLOP rate each
group reaches against the peak.

CPU and eager only: on a GPU, ops return before their kernels finish, so CPU self time says nothing
about them; a compiled step runs fused kernels that no longer carry the eager ops' names.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import torch
from torch.profiler import ProfilerActivity, profile

from harness.bench.shapes import BenchShape
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.trainer import Trainer
from models.flops import TRAIN_OVER_FORWARD, forward_flops_breakdown

MATMUL = "dense matmuls"
ATTENTION = "attention (SDPA)"
OPTIMIZER = "optimizer (AdamW, its Python included)"
OTHER = "everything else"
OP_CATEGORIES = (MATMUL, ATTENTION, OPTIMIZER, OTHER)
OUTSIDE = "outside torch ops (Python, batches, profiler)"
MATMUL_OPS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"})
US_PER_S = 1e6  # torch.profiler reports times in microseconds
OVERLAP_WARNING = 0.01  # op self times above the wall time by more than this are not a split of it

log = logging.getLogger("scalinglab.bench")


def op_category(name: str) -> str:
    """The group of a profiled op: its name decides (forward and backward ops alike)."""
    if name in MATMUL_OPS:
        return MATMUL
    if "scaled_dot_product" in name:
        return ATTENTION
    if "adamw" in name.lower():  # the fused kernel, and the Optimizer.step#AdamW.step / zero_grad records
        return OPTIMIZER
    return OTHER


def category_seconds(self_times: Iterable[Tuple[str, float]]) -> Dict[str, float]:
    """(op name, self seconds) pairs -> seconds per op group (every group present)."""
    totals = dict.fromkeys(OP_CATEGORIES, 0.0)
    for name, seconds in self_times:
        totals[op_category(name)] += seconds
    return totals


def wall_shares(op_seconds: Dict[str, float], wall_s: float) -> Dict[str, float]:
    """Each op group's share of the profiled wall time, and the rest (time in no torch op) as OUTSIDE."""
    if wall_s <= 0:
        raise ValueError(f"wall_s={wall_s}: the profiled steps took no time")
    shares = {c: s / wall_s for c, s in op_seconds.items()}
    shares[OUTSIDE] = 1 - sum(shares.values())
    if shares[OUTSIDE] < -OVERLAP_WARNING:
        log.warning("op self times add up to %.0f%% of the wall time: ops overlapped (several recording "
                    "threads), so the shares are not a split of the step", 100 * (1 - shares[OUTSIDE]))
    return shares


def category_flops_per_token(shape: BenchShape) -> Dict[str, float]:
    """Training FLOPs per token of the groups that do counted arithmetic (models.flops' exact terms; the
    attention charged the full n_ctx square, as that count does, though a causal kernel skips half)."""
    f = forward_flops_breakdown(shape.run.gpt)
    return {MATMUL: TRAIN_OVER_FORWARD * (f.attn_qkv + f.attn_out + f.mlp + f.logits),
            ATTENTION: TRAIN_OVER_FORWARD * (f.attn_logits + f.attn_softmax + f.attn_values)}


def profile_step(shape: BenchShape, data: PreparedData, n_steps: int, warmup: int, peak_flops_per_s: float,
                 workdir: Path) -> List[dict]:
    """One row per group for the trainer's step at `shape` on the CPU: ms per step (the profiled shares of the
    unprofiled step time), share, the FLOP rate by the exact count over the group's profiled self time;
    for the matmuls also the rate from the profiler's own FLOP count, as a cross-check of the count."""
    if shape.run.config.train.compile != "none":
        raise ValueError(f"train.compile={shape.run.config.train.compile}: the profile groups eager ops by name")
    cpu = torch.device("cpu")
    step = trainer_stepper(Trainer(shape.run, data, cpu, workdir / "profile-checkpoint.pt"))
    timed_seconds(step, warmup, cpu)
    step_s = timed_seconds(step, n_steps, cpu) / n_steps  # unprofiled: the profiler adds time per op
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        profiled_s = timed_seconds(step, n_steps, cpu) / n_steps
    events = prof.key_averages()
    shares = wall_shares(category_seconds((e.key, e.self_cpu_time_total / US_PER_S / n_steps) for e in events),
                         profiled_s)
    matmuls = [e for e in events if op_category(e.key) == MATMUL]
    matmul_op_rate = (sum(e.flops for e in matmuls) / (sum(e.self_cpu_time_total for e in matmuls) / US_PER_S)
                      if matmuls else float("nan"))
    flops = category_flops_per_token(shape)
    rows = []
    for category, share in shares.items():
        seconds = share * step_s
        flop_per_step = flops.get(category, float("nan")) * shape.run.tokens_per_step
        # The rate comes from the group's own profiled time, as the profiler's count does: scaling it to
        # the unprofiled step would credit the group with the profiler's overhead between ops.
        profiled_group_s = share * profiled_s
        rate = flop_per_step / profiled_group_s if profiled_group_s > 0 else float("nan")
        rows.append({"preset": shape.preset, "shape": shape.label, "threads": torch.get_num_threads(),
                     "category": category, "ms_per_step": 1e3 * seconds, "share": share,
                     "gflop_per_step": flop_per_step / 1e9, "gflops_per_s": rate / 1e9,
                     "fraction_of_peak": rate / peak_flops_per_s,
                     "profiler_fraction_of_peak": (matmul_op_rate / peak_flops_per_s if category == MATMUL
                                                   else float("nan")),
                     "profiled_over_unprofiled": profiled_s / step_s})
    return rows
