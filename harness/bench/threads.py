"""Jobs side by side: on the CPU, one process with every core's thread or one single-thread process per core;
on any device, k training processes sharing it (several tiny models per GPU) against one."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch

from harness.bench.shapes import BenchShape
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.device import synchronize, threads_for
from harness.trainer import Trainer

CHILD_TIMEOUT_S = 600  # a child that has not reported by then is stuck: the benchmark stops with an error
EXIT_WAIT_S = 30.0  # how long a child that has reported may take to exit before it is killed
POLL_S = 1.0  # how often the parent checks whether a child died while it waits for results


def _worker(run, data: PreparedData, threads: int, n_steps: int, warmup: int, device: str, window_s: float,
            barrier, results) -> None:
    """In a fresh process: build the trainer, warm up, wait for the others, then step for at least n_steps
    and at least window_s seconds.

    Reports (start, end, tokens) on the wall clock (time.time, shared by every process of the machine), so
    the parent can divide all tokens by the window in which any of them ran.
    """
    torch.set_num_threads(threads)
    where = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        step = trainer_stepper(Trainer(run, data, where, Path(tmp) / "ckpt.pt"))
        timed_seconds(step, warmup, where)
        barrier.wait(timeout=CHILD_TIMEOUT_S)
        start, steps = time.time(), 0
        while steps < n_steps or time.time() - start < window_s:
            step()
            steps += 1
        synchronize(where)
        results.put((start, time.time(), steps * run.tokens_per_step))


def _collect(children: list, results, timeout_s: float) -> list:
    """One result per child; an error as soon as a child exits without one, or when `timeout_s` passes."""
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < len(children):
        try:
            got.append(results.get(timeout=POLL_S))
        except queue.Empty:
            failed = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"benchmark process exited with status {failed[0]}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"benchmark processes gave no result within {timeout_s:.0f} s") from None
    return got


@dataclass(frozen=True)
class SideBySide:
    """What k processes timed together did."""

    tokens_per_s: float
    """Every process's tokens over the window from the first start to the last end, so a process that runs
    partly alone (woken late from the barrier, or finishing late) cannot inflate the total."""
    start_spread_s: float
    """Last start minus first start: how unevenly the barrier released them (small against the window)."""


def side_by_side(run, data: PreparedData, processes: int, threads: int, n_steps: int, warmup: int,
                 window_s: float, device: str = "cpu") -> SideBySide:
    """`processes` trainer processes of `threads` CPU threads each on `device`, timed together for at least
    n_steps steps and window_s seconds each."""
    if processes < 1:
        raise ValueError(f"processes={processes}: must be >= 1")
    ctx = mp.get_context("spawn")  # a forked child would inherit the parent's OpenMP (and CUDA) state
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    # Plain arrays, not memory maps, cross the process boundary.
    portable = dataclasses.replace(data, train_tokens=np.array(data.train_tokens),
                                   test_tokens=np.array(data.test_tokens))
    children = [ctx.Process(target=_worker, daemon=True,
                            args=(run, portable, threads, n_steps, warmup, device, window_s, barrier, results))
                for _ in range(processes)]
    try:
        for child in children:
            child.start()
        spans = _collect(children, results, CHILD_TIMEOUT_S)
        for child in children:
            child.join(timeout=EXIT_WAIT_S)  # a child stuck on exit is killed below, then reported
            if child.exitcode != 0:
                raise RuntimeError(f"benchmark process exited with status {child.exitcode}")
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join(timeout=EXIT_WAIT_S)
            if child.is_alive():
                child.kill()
                child.join()
    starts, ends, tokens = zip(*spans)
    return SideBySide(sum(tokens) / (max(ends) - min(starts)), max(starts) - min(starts))


def compare_threads(shape: BenchShape, data: PreparedData, n_steps: int, warmup: int, window_s: float,
                    cores: int) -> dict:
    """One `cores`-thread process vs `cores` single-thread processes side by side, total tokens/s."""
    one = side_by_side(shape.run, data, 1, cores, n_steps, warmup, window_s)
    many = side_by_side(shape.run, data, cores, 1, n_steps, warmup, window_s)
    return {"preset": shape.preset, "shape": shape.label, "cores": cores,
            f"one_process_{cores}_threads_tokens_per_s": one.tokens_per_s,
            f"{cores}_processes_1_thread_tokens_per_s": many.tokens_per_s,
            "processes_over_threads": many.tokens_per_s / one.tokens_per_s, "start_spread_s": many.start_spread_s,
            "faster": (f"{cores} x 1-thread processes" if many.tokens_per_s > one.tokens_per_s
                       else f"1 x {cores}-thread process")}


def compare_processes(shape: BenchShape, data: PreparedData, device: torch.device, counts: Sequence[int],
                      n_steps: int, warmup: int, window_s: float) -> List[dict]:
    """For each k in `counts` (1, the reference, always among them): k trainer processes side by side on
    `device` with the CPU threads the sweep gives each of k jobs (harness.device.threads_for), total tokens/s
    and its ratio to one process. On a GPU this says how many tiny runs to pack per device
    (scripts/sweep.py hydra/launcher=local_parallel hydra.launcher.n_jobs=k)."""
    counts = sorted(set(counts) | {1})
    timed = {k: side_by_side(shape.run, data, k, threads_for(0, k), n_steps, warmup, window_s, str(device))
             for k in counts}
    return [{"preset": shape.preset, "shape": shape.label, "device": str(device), "processes": k,
             "threads_each": threads_for(0, k), "total_tokens_per_s": t.tokens_per_s,
             "over_one_process": t.tokens_per_s / timed[1].tokens_per_s, "start_spread_s": t.start_spread_s}
            for k, t in timed.items()]
