"""Cooldown branches against cosine runs: each budget's final loss both ways on the same held-out windows
(paired), and what each way costs in exact FLOPs and measured time, on one machine in one process.

Both ways share the shape, D, seed, data order and warmup steps; they differ only in the decay. For each
shape, budget by budget (smallest first): the wsd trunk grows from its last kept state to this
budget's fork, then the cosine run and the wsd branch train, one after the other (interleaved, so a
load that comes or goes hits both ways alike). The trunk trains once in all.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import pandas as pd
import torch
from hydra import compose, initialize_config_dir

import configs.run
from configs.run import to_run_config
from harness.bench.report import markdown_table
from harness.data import prepare_data
from harness.resolve import ResolvedRun, resolve
from harness.trainer import Trainer, TrainOutcome, per_window_test_losses, sem
from harness.trunk_runner import grow_trunk
from harness.trunks import Unit, branch_segment, state_path, unit_cost

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Trained:
    """One finished training: its curve, its per-window final losses, its wall time."""

    outcome: TrainOutcome
    per_window: torch.Tensor
    seconds: float


def runs_at(preset: str, n_layer: int, d_model: int, budgets: Sequence[float], workdir: Path,
            extra: Sequence[str] = ()) -> tuple[List[ResolvedRun], List[ResolvedRun]]:
    """(cosine runs, wsd runs) of one shape of a preset at each budget, results under `workdir`."""
    configs.run.register()
    base = [f"sweep={preset}", f"model.n_layer={n_layer}", f"model.d_model={d_model}",
            f"sweep.results_dir={workdir}", *extra]
    with initialize_config_dir(config_dir=str(configs.run.CONFIG_DIR), version_base="1.3", job_name="bench"):
        cfg = compose("sweep_app", overrides=base)
    build = lambda d, *more: resolve(to_run_config(cfg, [f"train.tokens={d}", *more]))  # noqa: E731
    wsd = [build(d, "train.schedule=wsd") for d in budgets]
    # The cosine run warms up over the same steps as the wsd run (warmup_frac = warmup / steps rounds back to
    # them), so the comparison isolates the decay: cosine from the end of warmup, against constant + cooldown.
    cosine = [build(d, f"train.warmup_frac={w.warmup_steps / w.steps!r}") for d, w in zip(budgets, wsd)]
    for cos, w in zip(cosine, wsd):
        if (cos.warmup_steps, cos.steps) != (w.warmup_steps, w.steps):
            raise RuntimeError(f"D={cos.tokens}: cosine warms up {cos.warmup_steps} of {cos.steps} steps, wsd "
                               f"{w.warmup_steps} of {w.steps}; the comparison needs them equal")
    return cosine, wsd


def _train(trainer: Trainer, run: ResolvedRun) -> Trained:
    start = time.perf_counter()
    outcome = trainer.train()
    seconds = time.perf_counter() - start
    return Trained(outcome, per_window_test_losses(trainer.model, trainer.test, CPU, run.micro_batch_size), seconds)


def compare_shape(preset: str, n_layer: int, d_model: int, budgets: Sequence[float], workdir: Path,
                  extra: Sequence[str] = ()) -> tuple[pd.DataFrame, dict, dict]:
    """(one row per budget, the shape's cost row, the curves for the figure) of one shape."""
    cosine, wsd = runs_at(preset, n_layer, d_model, budgets, workdir, extra)
    data = prepare_data(cosine[0].config.data)
    trunk_s, rows, curves = 0.0, [], {"cosine": {}, "wsd": {}}
    for cos_run, wsd_run in zip(cosine, wsd):  # the trunk grows fork by fork, between the cosine runs
        start = time.perf_counter()
        grow_trunk(wsd, [wsd_run], data, CPU, check=lambda: None)
        trunk_s += time.perf_counter() - start
        cos = _train(Trainer(cos_run, data, CPU, workdir / f"{cos_run.run_id}.pt"), cos_run)
        fork = state_path(workdir, wsd_run.trunk_id, wsd_run.fork_step)
        ckpt = workdir / f"{wsd_run.run_id}.pt"
        branch = _train(Trainer(wsd_run, data, CPU, ckpt, segment=branch_segment(wsd_run, ckpt, fork),
                                state_tag={"trunk_id": wsd_run.trunk_id}), wsd_run)
        rows.append(_budget_row(cos_run, wsd_run, cos, branch))
        curves["cosine"][cos_run.tokens], curves["wsd"][wsd_run.tokens] = cos.outcome.rows, branch.outcome.rows
    frame = pd.DataFrame(rows)
    return frame, _cost_row(cosine, wsd, frame, trunk_s), curves


def _budget_row(cos_run: ResolvedRun, wsd_run: ResolvedRun, cos: Trained, branch: Trained) -> dict:
    g = cos_run.gpt
    diff = branch.per_window - cos.per_window
    return {"shape": f"{g.n_layer}x{g.d_model}", "N": cos_run.params.non_embedding, "D": cos_run.tokens,
            "fork_step": wsd_run.fork_step, "steps": cos_run.steps,
            "cosine_loss": float(cos.per_window.mean()), "wsd_loss": float(branch.per_window.mean()),
            "wsd_minus_cosine": float(diff.mean()), "sem_paired": sem(diff), "windows": len(diff),
            "cosine_s": cos.seconds, "branch_s": branch.seconds}


def _cost_row(cosine: Sequence[ResolvedRun], wsd: Sequence[ResolvedRun], frame: pd.DataFrame, trunk_s: float) -> dict:
    """Exact FLOPs (as the plan prices them, harness.trunks.unit_cost) and measured seconds of trunk + branches
    against the cosine runs, for one shape."""
    cost = unit_cost(Unit(tuple(wsd)), [True] * len(wsd), [])
    wsd_s = trunk_s + frame["branch_s"].sum()
    return {"shape": frame["shape"].iloc[0], "budgets": len(cosine), "wsd_flops": cost.flops,
            "cosine_flops": cost.separate_flops, "flops_ratio": cost.flops / cost.separate_flops, "trunk_s": trunk_s,
            "wsd_s": wsd_s, "cosine_s": frame["cosine_s"].sum(), "time_ratio": wsd_s / frame["cosine_s"].sum()}


def plot_trunk(curves: dict, path: Path, title: str) -> None:
    """Left: the learning rate of one trunk and its branches (cosine runs dashed); right: their test losses."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (lr_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.cm.viridis([i / max(1, len(curves["wsd"]) - 1) for i in range(len(curves["wsd"]))])
    for colour, (tokens, rows) in zip(colours, sorted(curves["wsd"].items())):
        frame = pd.DataFrame(rows)
        tested = frame[frame.test_loss.notna()]
        cos = pd.DataFrame(curves["cosine"][tokens])
        lr_ax.plot(frame.tokens, frame.lr, color=colour, label=f"wsd D={tokens:.2g}")
        lr_ax.plot(cos.tokens, cos.lr, color=colour, ls="--", lw=0.8)
        loss_ax.plot(tested.tokens, tested.test_loss, color=colour, label=f"wsd D={tokens:.2g}")
        cos_tested = cos[cos.test_loss.notna()]
        loss_ax.plot(cos_tested.tokens, cos_tested.test_loss, color=colour, ls="--", lw=0.8)
    lr_ax.set(xlabel="tokens", ylabel="learning rate", title="schedule: wsd branches (solid), cosine (dashed)")
    loss_ax.set(xlabel="tokens", ylabel="test loss (nats/token)", xscale="log", title=title)
    lr_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(budgets: pd.DataFrame, costs: pd.DataFrame) -> str:
    """The two tables as markdown."""
    b = budgets.assign(**{"wsd − cosine": [f"{d:+.4f} ± {s:.4f}" for d, s in
                                           zip(budgets.wsd_minus_cosine, budgets.sem_paired)]})
    b = b[["shape", "N", "D", "fork_step", "steps", "cosine_loss", "wsd_loss", "wsd − cosine", "windows"]]
    return ("Final test loss, wsd branch vs cosine run (same shape, D, seed and data order; ± paired standard "
            "error over the held-out windows)\n\n" + markdown_table(b) +
            "\n\nCost: trunk + branches vs the cosine runs (exact training FLOPs; seconds measured in this "
            "process)\n\n" + markdown_table(costs) + "\n")


def is_finite_table(frame: pd.DataFrame) -> bool:
    """Whether every loss of the comparison is finite (a diverged run would make the table meaningless)."""
    return all(math.isfinite(v) for v in frame[["cosine_loss", "wsd_loss"]].to_numpy().ravel())
