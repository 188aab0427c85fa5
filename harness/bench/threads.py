"""Threads per job on the CPU: one process with every core's thread, or one single-thread process per core."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import tempfile
from pathlib import Path

import numpy as np
import torch

from harness.bench.shapes import BenchShape
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.trainer import Trainer

CHILD_TIMEOUT_S = 600


def _worker(run, data: PreparedData, threads: int, n_steps: int, warmup: int, barrier, results) -> None:
    """In a fresh process: build the trainer, warm up, wait for the others, time n_steps."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        step = trainer_stepper(Trainer(run, data, torch.device("cpu"), Path(tmp) / "ckpt.pt"))
        timed_seconds(step, warmup, torch.device("cpu"))
        barrier.wait()
        results.put(n_steps * run.tokens_per_step / timed_seconds(step, n_steps, torch.device("cpu")))


def side_by_side_tokens_per_s(run, data: PreparedData, processes: int, threads: int, n_steps: int,
                              warmup: int) -> float:
    """Total tokens/s of `processes` trainer processes of `threads` threads each, timed together."""
    ctx = mp.get_context("spawn")  # a forked child would inherit the parent's OpenMP state
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    # Plain arrays, not memory maps, cross the process boundary.
    portable = dataclasses.replace(data, train_tokens=np.array(data.train_tokens),
                                   test_tokens=np.array(data.test_tokens))
    children = [ctx.Process(target=_worker, args=(run, portable, threads, n_steps, warmup, barrier, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    totals = [results.get(timeout=CHILD_TIMEOUT_S) for _ in children]
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"benchmark process exited with status {child.exitcode}")
    return sum(totals)


def compare_threads(shape: BenchShape, data: PreparedData, n_steps: int, warmup: int, cores: int) -> dict:
    """One `cores`-thread process vs `cores` single-thread processes side by side, total tokens/s."""
    one = side_by_side_tokens_per_s(shape.run, data, 1, cores, n_steps, warmup)
    many = side_by_side_tokens_per_s(shape.run, data, cores, 1, n_steps, warmup)
    return {"preset": shape.preset, "shape": shape.label, "cores": cores,
            f"one_process_{cores}_threads_tokens_per_s": one,
            f"{cores}_processes_1_thread_tokens_per_s": many, "processes_over_threads": many / one,
            "faster": f"{cores} x 1-thread processes" if many > one else f"1 x {cores}-thread process"}
