"""How far healthy runs stay from the divergence rules (harness/divergence.py), per run of a preset's plan.

    python -m harness.bench.divergence_margins sweep=smoke
    python -m harness.bench.divergence_margins sweep=kaplan_fig1 train.tokens=1e5 --max-runs 8

Trains every planned run in this process (nothing is written to the results folder) with the rules
switched off, and prints per run: steps, the unigram loss U of the train split, the first step whose
row fell below U, the largest rise of a row over the best row before it, and the last row against U.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from unittest import mock

import torch

from configs.run import register
from harness import divergence, trainer
from harness.data import prepare_once
from harness.sweep import plan_sweep, split_command_line


def margins(rows: list[dict], unigram_nats: float) -> dict:
    """The quantities the rules threshold, for one finished run's rows."""
    losses = [r["train_loss"] for r in rows]
    rises = [losses[i] / min(losses[:i]) for i in range(1, len(losses))]
    below = [r["step"] for r in rows if r["train_loss"] < unigram_nats]
    above_start, longest = 0, 0
    for loss in losses[1:]:
        above_start = above_start + 1 if loss > losses[0] else 0
        longest = max(longest, above_start)
    return {"steps": rows[-1]["step"], "unigram": unigram_nats, "first_below_unigram": below[0] if below else -1,
            "max_rise": max(rises, default=math.nan), "rows_above_start": longest,
            "last_over_unigram": losses[-1] / unigram_nats}


def measure(args: list[str], max_runs: int) -> list[dict]:
    """Train each planned run (up to max_runs, smallest first) with no rule but non_finite; their margins."""
    register()
    _, plan, _ = plan_sweep(split_command_line([*args, "sweep.analyze=false"]))
    prepared: dict = {}
    out = []
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(trainer, "find_divergence", lambda *a: None):
        for planned in sorted(plan, key=lambda p: p.train_flops)[:max_runs or None]:
            run = planned.run
            data = prepare_once(run.config.data, prepared)
            torch.set_num_threads(max(1, run.config.train.threads))
            done = trainer.Trainer(run, data, torch.device("cpu"), Path(tmp) / f"{run.run_id}.pt").train()
            out.append({"run": f"L{run.gpt.n_layer} d{run.gpt.d_model} D={run.tokens:.3g}", "status": done.status,
                        **margins(done.rows, divergence.train_unigram_loss(data))})
    return out


def format_table(rows: list[dict]) -> str:
    """Markdown table of `measure`'s output, with the worst case of each column last."""
    lines = ["| run | status | steps | U (nats) | first row below U (step) | max rise | rows above the first, "
             "in a row | last row / U |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['status']} | {r['steps']} | {r['unigram']:.3f} | {r['first_below_unigram']} "
                     f"| {r['max_rise']:.3f} | {r['rows_above_start']} | {r['last_over_unigram']:.3f} |")
    lines.append(f"| worst | | | | {max(r['first_below_unigram'] for r in rows)} | "
                 f"{max(r['max_rise'] for r in rows):.3f} | {max(r['rows_above_start'] for r in rows)} | "
                 f"{max(r['last_over_unigram'] for r in rows):.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Command line: Hydra overrides of a sweep, plus --max-runs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-runs", type=int, default=0, help="only the N cheapest runs of the plan (0: all)")
    known, overrides = p.parse_known_args(argv)
    print(format_table(measure(overrides, known.max_runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
