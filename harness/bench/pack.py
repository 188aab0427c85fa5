"""Packed runs against separate processes: total training tokens/s of M models per pack, the sweep's way.

The sweep's way on a 2-core CPU is two single-thread jobs side by side, each training one run. The packed
way is the same two jobs, each training a pack of M runs. Two worker processes are started once and follow
one schedule: for each shape, rounds of every contender (separate, then packs of each M), the order reversed
every other round, each measurement a barrier-released window of at least `window_s` seconds; a
contender's tokens/s is every model's tokens over the window from the first start to the last end.
Training steps only (the Trainer's own step, the PackedTrainer's own step); evaluation is the same per
model either way.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile

from harness.bench.shapes import find_shape, preset_shapes
from harness.bench.threads import CHILD_TIMEOUT_S, EXIT_WAIT_S, _collect
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData, prepare_data
from harness.packed import PackedTrainer
from harness.resolve import ResolvedRun
from harness.trainer import Trainer
from harness.trunks import flops_per_step

PRESET = "kaplan_fig1"
# (n_layer, d_model): the default sweep's smallest (docs/speed.md's first packing table also has 1 x 16 and
# 1 x 32, from the earlier preset)
SHAPES = ((2, 16), (2, 32))
PACK_SIZES = (2, 4, 8, 16)
JOBS = 2  # single-thread jobs side by side: the default sweep's launcher on 2 cores (configs/sweep/kaplan_fig1.yaml)
MIN_STEPS = 2  # per measurement, however long a step takes
PROFILE_STEPS = 3


def with_seed(run: ResolvedRun, seed: int) -> ResolvedRun:
    """The run with another seed (its id is not recomputed: the benchmark writes no results)."""
    train = dataclasses.replace(run.config.train, seed=seed)
    return dataclasses.replace(run, config=dataclasses.replace(run.config, train=train))


def stepper(run: ResolvedRun, members: int, data: PreparedData, folder: Path,
            device: torch.device = torch.device("cpu")):
    """One call = one training step on `device` of one run (members 0) or of a pack of `members` runs (seeds
    0..M-1)."""
    if members == 0:
        return trainer_stepper(Trainer(run, data, device, folder / "alone.pt"))
    runs = [with_seed(run, s) for s in range(members)]
    trainer = PackedTrainer(runs, data, device, [folder / f"m{s}.pt" for s in range(members)])
    counter = iter(range(10**12))
    return lambda: trainer._step(next(counter) % run.steps)


def _worker(runs: List[ResolvedRun], data: PreparedData, schedule: list, window_s: float, warmup: int,
            barrier, results) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        built: Dict[tuple, object] = {}
        for i, (k, members) in enumerate(schedule):
            if (k, members) not in built:
                built = {key: s for key, s in built.items() if key[0] == k}  # one shape's steppers at a time
                built[(k, members)] = stepper(runs[k], members, data, Path(tmp))
                timed_seconds(built[(k, members)], warmup, torch.device("cpu"))
            step = built[(k, members)]
            barrier.wait(timeout=CHILD_TIMEOUT_S)
            start, steps = time.time(), 0
            while steps < MIN_STEPS or time.time() - start < window_s:
                step()
                steps += 1
            results.put((i, start, time.time(), steps * max(1, members) * runs[k].tokens_per_step))


def make_schedule(shapes: int, sizes: Sequence[int], rounds: int) -> list:
    """(shape, members) in measurement order: per shape, rounds of separate (0) then each pack size, every other
    round reversed."""
    order = [0, *sizes]
    return [(k, m) for k in range(shapes) for r in range(rounds) for m in (order if r % 2 == 0 else order[::-1])]


def measure(runs: List[ResolvedRun], data: PreparedData, sizes: Sequence[int], rounds: int, window_s: float,
            warmup: int) -> Dict[tuple, List[float]]:
    """Total tokens/s of each (shape index, members) in each round: every worker's tokens over the window from
    the first start to the last end of that measurement."""
    schedule = make_schedule(len(runs), sizes, rounds)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(JOBS), ctx.Queue()
    portable = dataclasses.replace(data, train_tokens=np.array(data.train_tokens), test_tokens=np.array(data.test_tokens))
    children = [ctx.Process(target=_worker, daemon=True, args=(runs, portable, schedule, window_s, warmup, barrier, queue))
                for _ in range(JOBS)]
    for child in children:
        child.start()
    try:
        # one report per worker and measurement (_collect waits for one result per entry of its list)
        got = _collect(children * len(schedule), queue, CHILD_TIMEOUT_S * 2)
        for child in children:
            child.join(timeout=EXIT_WAIT_S)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()
    spans: Dict[int, list] = {}
    for i, start, end, tokens in got:
        spans.setdefault(i, []).append((start, end, tokens))
    tps: Dict[tuple, List[float]] = {}
    for i in sorted(spans):
        window = max(e for _, e, _ in spans[i]) - min(s for s, _, _ in spans[i])
        tps.setdefault(schedule[i], []).append(sum(t for _, _, t in spans[i]) / window)
    return tps


def ratio_table(runs: List[ResolvedRun], tps: Dict[tuple, List[float]], rounds: int) -> pd.DataFrame:
    """Per shape and pack size: tokens/s of all models, separate and packed, and their ratio in each round."""
    rows = []
    for k, run in enumerate(runs):
        for members in sorted({m for kk, m in tps if kk == k and m}):
            ratios = [p / s for p, s in zip(tps[(k, members)], tps[(k, 0)])]
            rows.append({"shape": f"L{run.gpt.n_layer} d{run.gpt.d_model}", "n_layer": run.gpt.n_layer,
                         "d_model": run.gpt.d_model, "flops_per_step": flops_per_step(run), "models_per_pack": members,
                         "separate_tokens_per_s": statistics.median(tps[(k, 0)]),
                         "packed_tokens_per_s": statistics.median(tps[(k, members)]),
                         "packed_over_separate": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios), "rounds": rounds})
    return pd.DataFrame(rows)


def profile_table(runs: List[ResolvedRun], data: PreparedData, members: int, top: int) -> pd.DataFrame:
    """The `top` ops by self CPU time of one run's step and of a pack's step (1 thread), as shares of each."""
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            for m in (0, members):
                step = stepper(run, m, data, Path(tmp))
                timed_seconds(step, 1, torch.device("cpu"))
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    timed_seconds(step, PROFILE_STEPS, torch.device("cpu"))
                events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
                total = sum(e.self_cpu_time_total for e in events)
                rows += [{"shape": f"L{run.gpt.n_layer} d{run.gpt.d_model}", "models": max(1, m), "op": e.key,
                          "share_of_step": e.self_cpu_time_total / total,
                          "ms_per_step_per_model": e.self_cpu_time_total / 1e3 / PROFILE_STEPS / max(1, m)}
                         for e in events[:top]]
    return pd.DataFrame(rows)


def bench_runs(overrides: Sequence[str], shapes=SHAPES) -> tuple[List[ResolvedRun], PreparedData]:
    """The longest planned run of each benchmarked shape of the default preset, and its data."""
    planned = preset_shapes(PRESET, overrides)
    runs = [find_shape(planned, n_layer, d_model).run for n_layer, d_model in shapes]
    return runs, prepare_data(runs[0].config.data)
