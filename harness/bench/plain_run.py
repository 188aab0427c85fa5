"""The plain way to train one result: its own process, the plain loop, a cosine schedule, nothing recorded.

`python -m harness.bench.plain_run '<spec json>'` is what a researcher's one-file script does per (N, D)
point: start Python, import torch, load the cached token ids, build the model, train `steps` AdamW updates
(linear warmup, cosine decay to final_lr_ratio of the peak), print one JSON line. It evaluates nothing, so
it is the cheapest plain run there is. With steps=0 it measures the per-process start-up alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAIN_RUN_TIMEOUT_S = 3600  # one plain run of the default preset takes at most a few minutes on 2 cores


@dataclass(frozen=True)
class PlainSpec:
    """Everything one plain run needs: the shape, the batch, the rate and its schedule, the data file."""

    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    n_ctx: int
    vocab_size: int
    batch_size: int
    peak_lr: float
    warmup_steps: int
    final_lr_ratio: float
    steps: int
    seed: int
    train_tokens_path: str
    """The cached train-split token ids (.npy), as the harness's data cache holds them."""


def plain_spec(run, train_tokens_path: str, steps: int | None = None) -> PlainSpec:
    """The plain run of a ResolvedRun: the same shape, batch, peak rate, budget and data, trained as cosine."""
    g, t = run.gpt, run.config.train
    return PlainSpec(g.n_layer, g.d_model, g.n_head, g.d_ff, g.n_ctx, g.vocab_size, run.batch_size, run.peak_lr,
                     run.warmup_steps, t.final_lr_ratio, run.steps if steps is None else steps, t.seed,
                     str(train_tokens_path))


def time_plain_process(spec: PlainSpec) -> tuple[float, dict]:
    """(wall seconds from starting the process to its exit, the JSON line it printed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.bench.plain_run", json.dumps(asdict(spec))],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=PLAIN_RUN_TIMEOUT_S)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"plain run L{spec.n_layer} d{spec.d_model} ({spec.steps} steps) exited "
                           f"{done.returncode}: {done.stderr.strip()[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    """Train the spec given as the one argument; print {"steps", "train_s", "final_train_loss"}."""
    import numpy as np
    import torch

    from harness.bench.plain_loop import PlainLoop
    from harness.schedule import lr_at

    spec = PlainSpec(**json.loads(argv[0]))
    tokens = np.load(spec.train_tokens_path, mmap_mode="r")
    gpt = SimpleNamespace(n_layer=spec.n_layer, d_model=spec.d_model, n_head=spec.n_head, d_ff=spec.d_ff,
                          n_ctx=spec.n_ctx, vocab_size=spec.vocab_size)
    loop = PlainLoop(gpt, spec.batch_size, spec.peak_lr, tokens, torch.device("cpu"), spec.seed)
    start, loss = time.perf_counter(), None
    for step in range(spec.steps):
        for group in loop.opt.param_groups:
            group["lr"] = lr_at(step, spec.peak_lr, spec.warmup_steps, spec.steps, spec.final_lr_ratio)
        loss = loop.step()
    final = float(loss) if loss is not None else float("nan")  # the one read-back of the run
    print(json.dumps({"steps": spec.steps, "train_s": time.perf_counter() - start, "final_train_loss": final}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
