"""The GPU measurement's packed table: k tiny models trained together by the packed trainer in one process,
against k processes of one model each (the sweep's `hydra.launcher.n_jobs=k`), on one device.

Worker processes are started once, as many as the largest k, and follow one schedule with the parent: per
shape, rounds of every k for both contenders, the order reversed every other round. Every measurement starts
at a barrier of all workers and the parent and ends at another, so no two overlap: 'separate k' steps the
Trainer (harness.bench.pack.stepper, one run) in workers 0..k-1 at once, 'packed k' steps a PackedTrainer of k
seeds in worker 0 alone. A measurement's tokens/s is its workers' tokens over the window from the first start
to the last end (harness/bench/threads.py's rule). Past the time limit the parent skips every further round
but each shape's first, so the table's time is bounded however slow the device.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import pandas as pd
import torch

from harness.bench.pack import stepper
from harness.bench.shapes import preset_plan
from harness.bench.threads import EXIT_WAIT_S, POLL_S
from harness.bench.timing import timed_seconds
from harness.data import prepare_data, prepare_once
from harness.device import synchronize, threads_for
from harness.resolve import ResolvedRun
from models.flops import TRAIN_FLOPS_PER_TOKEN

# Two tiny shapes of the packed CPU benchmark (docs/speed.md), at the default preset's heads, context and batch
# (configs/sweep/kaplan_fig1.yaml). The budget (the lr_sweep preset's D, 244 steps) sets the schedule the steps
# follow; it fits the smoke data's 601,856 train tokens too, so neither data repeats nor needs another config.
PACKED_SHAPES = ((1, 16), (2, 32))
PACKED_D_HEAD, PACKED_N_CTX, PACKED_BATCH, PACKED_TOKENS = 16, 128, 16, 499_712
PACKED_SIZES = (1, 2, 4, 8, 16)
PACKED_ROUNDS = 2
PACKED_WINDOW_S = 1.0  # 2 shapes x 2 rounds x 5 k x 2 contenders = 40 windows: about 45 s with the barriers
PACKED_WARMUP_STEPS = 3  # untimed, per worker and contender: allocator, cuBLAS handles, the optimizer's state
PACKED_LIMIT_S = 90.0  # no round starts past it (start-up of 16 CUDA processes included)
MIN_STEPS = 2  # per measurement, however long a step takes
BARRIER_TIMEOUT_S = 120.0  # a worker that has not reached a barrier by then (start-up included) is stuck or dead


@dataclass(frozen=True)
class PackedOptions:
    """What the packed table measures; the defaults are the GPU call's (about 60-90 s on one GPU)."""

    shapes: tuple = PACKED_SHAPES
    """(n_layer, d_model) of each tiny model."""
    sizes: tuple = PACKED_SIZES
    """k: models per pack, and processes of one model each; 1 (the reference) is always measured."""
    rounds: int = PACKED_ROUNDS
    window_s: float = PACKED_WINDOW_S
    """Seconds each measurement steps, at least."""
    warmup_steps: int = PACKED_WARMUP_STEPS
    limit_s: float = PACKED_LIMIT_S
    """No round after a shape's first starts once this many seconds have passed since the table began."""


def packed_run(n_layer: int, d_model: int, overrides: Sequence[str]) -> ResolvedRun:
    """The resolved run of one tiny shape (the `single` preset at the default preset's heads, context, batch)."""
    return preset_plan("single", [f"model.n_layer={n_layer}", f"model.d_model={d_model}",
                                  f"model.d_head={PACKED_D_HEAD}", f"model.n_ctx={PACKED_N_CTX}",
                                  f"train.batch_size={PACKED_BATCH}", f"train.tokens={PACKED_TOKENS}",
                                  *overrides])[0].run


def packed_schedule(shapes: int, sizes: Sequence[int], rounds: int) -> list:
    """(shape, round, contender, k) in measurement order: per shape, rounds of separate and packed for every k,
    every other round reversed."""
    order = [(contender, k) for k in sizes for contender in ("separate", "packed")]
    return [(s, r, c, k) for s in range(shapes) for r in range(rounds)
            for c, k in (order if r % 2 == 0 else order[::-1])]


def takes_part(worker: int, contender: str, k: int) -> bool:
    """Workers 0..k-1 train one model each for 'separate k'; worker 0 trains the pack for 'packed k'."""
    return worker < k if contender == "separate" else worker == 0


def _worker(index: int, runs: List[ResolvedRun], device: str, schedule: list, threads: int, opts: PackedOptions,
            barrier, skip, results) -> None:
    torch.set_num_threads(threads)
    where = torch.device(device)
    # From the cache the parent filled: token arrays passed as arguments would make each start wait for the
    # previous child to import everything and read them, where the workers now start side by side.
    data = prepare_data(runs[0].config.data)
    with tempfile.TemporaryDirectory() as tmp:
        built: Dict[tuple, object] = {}
        for i, (shape, _, contender, k) in enumerate(schedule):
            members = k if contender == "packed" else 0  # pack.stepper's 0: one run, the Trainer
            mine = takes_part(index, contender, k)
            if mine and (shape, members) not in built:
                built = {key: s for key, s in built.items() if key[0] == shape}  # one shape's steppers at a time
                built[(shape, members)] = stepper(runs[shape], members, data, Path(tmp), where)
                timed_seconds(built[(shape, members)], opts.warmup_steps, where)
            barrier.wait(timeout=BARRIER_TIMEOUT_S)
            if mine and not skip.value:  # the parent sets it before this barrier and changes it after the next
                step, start, steps = built[(shape, members)], time.time(), 0
                while steps < MIN_STEPS or time.time() - start < opts.window_s:
                    step()
                    steps += 1
                synchronize(where)
                results.put((i, start, time.time(), steps * max(1, members) * runs[shape].tokens_per_step))
            barrier.wait(timeout=BARRIER_TIMEOUT_S)


def _watch(children: list, barrier, done: threading.Event) -> None:
    """Break the barrier as soon as a worker exits with an error, so that nobody waits for it."""
    while not done.wait(POLL_S):
        if any(c.exitcode not in (None, 0) for c in children):
            barrier.abort()
            return


def _wait(barrier, children: list) -> None:
    try:
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
    except threading.BrokenBarrierError:
        codes = [c.exitcode for c in children]
        raise RuntimeError(f"a packed-table worker failed or hung (exit statuses {codes})") from None


def measure_packed(runs: List[ResolvedRun], device: torch.device, opts: PackedOptions,
                   threads: int) -> tuple[list, Dict[int, list]]:
    """Run the schedule (the runs' data prepared in its cache already); returns it and, per measured entry, each
    worker's (start, end, tokens)."""
    start = time.monotonic()
    sizes = sorted(set(opts.sizes) | {1})
    schedule, workers = packed_schedule(len(runs), sizes, opts.rounds), max(sizes)
    ctx = mp.get_context("spawn")  # a forked child would inherit the parent's CUDA state
    barrier, skip, results = ctx.Barrier(workers + 1), ctx.Value("b", 0), ctx.Queue()
    each = threads_for(threads, workers)  # the CPU shared evenly by every worker alive
    children = [ctx.Process(target=_worker, daemon=True, args=(w, runs, str(device), schedule, each, opts, barrier,
                                                               skip, results)) for w in range(workers)]
    measured, done = [], threading.Event()
    watchdog = threading.Thread(target=_watch, args=(children, barrier, done), daemon=True)
    try:
        for child in children:
            child.start()
        watchdog.start()
        for i, (shape, r, _, _) in enumerate(schedule):
            if i == 0 or schedule[i - 1][:2] != (shape, r):  # a round begins: past the limit, skip all of it
                skip.value = int(r > 0 and time.monotonic() - start > opts.limit_s)
            _wait(barrier, children)
            _wait(barrier, children)
            if not skip.value:
                measured.append(i)
        expected = sum(takes_part(w, schedule[i][2], schedule[i][3]) for i in measured for w in range(workers))
        got = [results.get(timeout=BARRIER_TIMEOUT_S) for _ in range(expected)]
        for child in children:
            child.join(timeout=EXIT_WAIT_S)
    finally:
        done.set()
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()
    spans: Dict[int, list] = {}
    for i, first, last, tokens in got:
        spans.setdefault(i, []).append((first, last, tokens))
    return schedule, spans


def round_tokens_per_s(schedule: list, spans: Dict[int, list]) -> Dict[tuple, List[float]]:
    """(shape, contender, k) -> total tokens/s in each round measured: every worker's tokens over the window from
    the first start to the last end of that measurement."""
    tps: Dict[tuple, List[float]] = {}
    for i in sorted(spans):
        shape, _, contender, k = schedule[i]
        window = max(end for _, end, _ in spans[i]) - min(start for start, _, _ in spans[i])
        tps.setdefault((shape, contender, k), []).append(sum(tokens for _, _, tokens in spans[i]) / window)
    return tps


def packed_rows(runs: List[ResolvedRun], tps: Dict[tuple, List[float]], measured_peak: float) -> pd.DataFrame:
    """Per shape and k: total and per-model tokens/s of k separate processes and of one pack of k, their ratio
    (median of the rounds' ratios, with min and max), each against one process of one model, and MFU."""
    rows = []
    for s, run in enumerate(runs):
        flops = TRAIN_FLOPS_PER_TOKEN["exact"](run.gpt)
        one = statistics.median(tps[(s, "separate", 1)])
        for k in sorted(k for shape, contender, k in tps if shape == s and contender == "packed"):
            separate, packed = tps[(s, "separate", k)], tps[(s, "packed", k)]
            ratios = [p / q for p, q in zip(packed, separate)]
            sep, pack = statistics.median(separate), statistics.median(packed)
            rows.append({"shape": f"{run.gpt.n_layer} x {run.gpt.d_model}", "n_layer": run.gpt.n_layer,
                         "d_model": run.gpt.d_model, "params_non_embedding": run.params.non_embedding,
                         "n_ctx": run.gpt.n_ctx, "batch_size": run.batch_size, "flops_per_token_exact": flops,
                         "models": k, "rounds": len(ratios), "separate_tokens_per_s": sep, "packed_tokens_per_s": pack,
                         "separate_tokens_per_s_per_model": sep / k, "packed_tokens_per_s_per_model": pack / k,
                         "packed_over_separate": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios), "separate_over_one_model": sep / one,
                         "packed_over_one_model": pack / one, "separate_mfu_measured_peak": sep * flops / measured_peak,
                         "packed_mfu_measured_peak": pack * flops / measured_peak})
    return pd.DataFrame(rows)


def packed_table(opts: PackedOptions, device: torch.device, measured_peak: float, overrides: Sequence[str],
                 threads: int, cache: dict) -> pd.DataFrame:
    """k tiny models packed in one process against k processes of one model each on `device`, for k in
    opts.sizes: total and per-model tokens/s, their ratios, and MFU against the measured peak."""
    runs = [packed_run(n_layer, d_model, overrides) for n_layer, d_model in opts.shapes]
    prepare_once(runs[0].config.data, cache)  # a cold cache is filled here, once, before the workers read it
    schedule, spans = measure_packed(runs, device, opts, threads)
    return packed_rows(runs, round_tokens_per_s(schedule, spans), measured_peak)
