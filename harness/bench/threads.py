"""Jobs side by side: on the CPU, one process with every core's thread or one single-thread process per core;
on any device, k training processes sharing it (several tiny models per GPU) against one."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import tempfile
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch

from harness.bench.shapes import BenchShape
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import PreparedData
from harness.trainer import Trainer

CHILD_TIMEOUT_S = 600


def _worker(run, data: PreparedData, threads: int, n_steps: int, warmup: int, device: str, barrier,
            results) -> None:
    """In a fresh process: build the trainer, warm up, wait for the others, time n_steps."""
    torch.set_num_threads(threads)
    where = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        step = trainer_stepper(Trainer(run, data, where, Path(tmp) / "ckpt.pt"))
        timed_seconds(step, warmup, where)
        barrier.wait()
        results.put(n_steps * run.tokens_per_step / timed_seconds(step, n_steps, where))


def side_by_side_tokens_per_s(run, data: PreparedData, processes: int, threads: int, n_steps: int,
                              warmup: int, device: str = "cpu") -> float:
    """Total tokens/s of `processes` trainer processes of `threads` CPU threads each on `device`, timed together."""
    ctx = mp.get_context("spawn")  # a forked child would inherit the parent's OpenMP state
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    # Plain arrays, not memory maps, cross the process boundary.
    portable = dataclasses.replace(data, train_tokens=np.array(data.train_tokens),
                                   test_tokens=np.array(data.test_tokens))
    children = [ctx.Process(target=_worker, args=(run, portable, threads, n_steps, warmup, device, barrier, results))
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


def compare_processes(shape: BenchShape, data: PreparedData, device: torch.device, counts: Sequence[int],
                      cores: int, n_steps: int, warmup: int) -> List[dict]:
    """For each k in `counts`: k trainer processes side by side on `device` (cores // k threads each), total
    tokens/s, and its ratio to one process. On a GPU this is how many tiny runs to pack per device
    (scripts/sweep.py hydra/launcher=local_parallel hydra.launcher.n_jobs=k)."""
    totals = {k: side_by_side_tokens_per_s(shape.run, data, k, max(1, cores // k), n_steps, warmup, str(device))
              for k in counts}
    return [{"preset": shape.preset, "shape": shape.label, "device": str(device), "processes": k,
             "threads_each": max(1, cores // k), "total_tokens_per_s": total,
             "over_one_process": total / totals[1] if 1 in totals else float("nan")}
            for k, total in totals.items()]
