"""Time to a scaling law: the plain way's wall time for a preset's results against scalinglab's, and why.

The plain way trains every result of a preset as its own cosine run with the plain loop, one process after
another. Its time is projected (each run's steps x its shape's measured plain-loop step, plus one measured
process start-up per run) or measured (`--full`). scalinglab's time is a real sweep's end to end. The ratio
splits exactly into factors (`breakdown`), from the per-unit times a finished sweep records:

    plain / scalinglab = start-ups x trunks x per-job speed x packing x concurrency x (1 - outside share)

- start-ups: (plain steps + n start-ups) / plain steps, the processes the plain way starts per result;
- trunks: plain-loop seconds of every result's steps / of the steps scalinglab trains (trunks + cooldowns);
- per-job speed: plain-loop seconds (2 threads) of an unpacked unit's steps / that unit's seconds in its
  1-thread job, evaluation and writes included;
- packing: what packed units gained over that per-job speed (1 when nothing packs);
- concurrency: Σ unit seconds / the span from the first unit's start to the last result (at most the jobs);
- outside share: the part of the end-to-end time outside that span (planning, start-up, data).
"2 jobs" is per-job speed x concurrency.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from harness import store
from harness.plan_file import PLANS_SUBDIR, read_plan, unit_of
from harness.trunks import Unit, flops_per_step, state_path

TARGET_RATIO = 2.0  # the aim: a preset's laws at least twice as fast as the plain way, on the 2-core CPU


def shape_label(run) -> str:
    """'L2 d16 h1 ff64 ctx128 b16 V1024': every field of harness.bench.shapes.shape_key, so runs with one label
    step equally fast."""
    g = run.gpt
    return f"L{g.n_layer} d{g.d_model} h{g.n_head} ff{g.d_ff} ctx{g.n_ctx} b{run.batch_size} V{g.vocab_size}"


def plain_runs(runs: Sequence) -> pd.DataFrame:
    """One row per result as the plain way trains it: run id, shape, steps (the same D as the preset's run)."""
    return pd.DataFrame({"run_id": [r.run_id for r in runs], "shape": [shape_label(r) for r in runs],
                         "steps": [r.steps for r in runs]})


def project_plain(runs: pd.DataFrame, step_s: Mapping[str, float], startup_s: float) -> pd.DataFrame:
    """`runs` (plain_runs) with each run's projected seconds: steps x its shape's plain step + one start-up."""
    train_s = runs["steps"] * runs["shape"].map(step_s)
    if train_s.isna().any():
        missing = sorted(set(runs.loc[train_s.isna(), "shape"]))
        raise ValueError(f"no measured plain-loop step for shapes {missing}; measured: {sorted(step_s)}")
    return runs.assign(plain_train_s=train_s, startup_s=startup_s, plain_s=train_s + startup_s)


def units_table(units: Sequence[Sequence], unit_flops: Sequence[float]) -> pd.DataFrame:
    """One row per unit of a plan: kind, shape, its runs, the steps it trains (exact FLOPs / FLOPs per step,
    so a trunk's steps plus its cooldowns, a pack's steps summed over members) and its results' own steps."""
    rows = []
    for index, (runs, flops) in enumerate(zip(units, unit_flops)):
        unit = Unit(tuple(runs))
        rows.append({"unit": index, "kind": "pack" if unit.is_pack else "trunk" if unit.is_trunk else "run",
                     "shape": shape_label(runs[0]), "runs": len(runs), "run_ids": [r.run_id for r in runs],
                     "trained_steps": flops / flops_per_step(runs[0]), "trained_flops": flops,
                     "separate_steps": sum(r.steps for r in runs),
                     "separate_flops": sum(r.steps * flops_per_step(r) for r in runs)})
    return pd.DataFrame(rows)


def unit_busy_s(kind: str, walls: pd.Series, fork_elapsed_s: pd.Series) -> float:
    """Seconds a unit trained in its job, from its runs' wall_time_s (indexed by run id).

    A run: its wall time. A pack: its members' sum (each holds its share of the pack's time). A trunk: its
    elapsed seconds at the last fork plus each branch's cooldown, wall_time_s - elapsed at its fork (a branch's
    wall time counts its trunk up to the fork); `fork_elapsed_s` holds each branch's elapsed at its fork."""
    if kind == "run":
        return float(walls.iloc[0])
    if kind == "pack":
        return float(walls.sum())
    return float(fork_elapsed_s.max() + (walls - fork_elapsed_s[walls.index]).sum())


def unit_times(units: pd.DataFrame, runs: pd.DataFrame, mtimes: pd.Series, fork_elapsed_s: pd.Series) -> pd.DataFrame:
    """`units` (units_table) with busy_s (unit_busy_s), end_s (its last result file's mtime) and start_s (end -
    busy) of each unit of a finished sweep; fork_elapsed_s by run id for the branches of trunks."""
    walls = runs.set_index("run_id")["wall_time_s"]
    missing = [i for ids in units["run_ids"] for i in ids if i not in walls.index or i not in mtimes.index]
    if missing:
        raise ValueError(f"{len(missing)} planned runs have no result file (e.g. {missing[0][:8]}): the sweep "
                         "has not finished, so its end-to-end time is not known")
    busy = [unit_busy_s(kind, walls[list(ids)], fork_elapsed_s.reindex(list(ids)))
            for kind, ids in zip(units["kind"], units["run_ids"])]
    ends = [float(mtimes[list(ids)].max()) for ids in units["run_ids"]]
    return units.assign(busy_s=busy, end_s=ends, start_s=[e - b for e, b in zip(ends, busy)])


def breakdown(plain_train_s: float, plain_startups_s: float, unit_plain_s: pd.Series, busy_s: pd.Series,
              packed: pd.Series, span_s: float, end_to_end_s: float) -> dict:
    """The factors of plain / scalinglab (module docstring); their product is the ratio.

    plain_train_s, plain_startups_s: the plain way's steps and its start-ups; per unit of the sweep, the
    plain-loop seconds of its trained steps (unit_plain_s), its seconds in the sweep (busy_s) and whether it is
    a pack; span_s from the first unit's start to the last result; end_to_end_s of the whole sweep command.
    Without an unpacked unit the per-job speed is that of the packs and packing is NaN (nothing to compare)."""
    single = ~packed.astype(bool)
    if single.any():
        speed_single = unit_plain_s[single].sum() / busy_s[single].sum()
        busy_unpacked = busy_s.where(single, unit_plain_s / speed_single).sum()
        packing = busy_unpacked / busy_s.sum()
    else:
        busy_unpacked, packing = busy_s.sum(), math.nan
    plain_s = plain_train_s + plain_startups_s
    factors = {"startups": plain_s / plain_train_s, "trunks": plain_train_s / unit_plain_s.sum(),
               "per_job_speed": unit_plain_s.sum() / busy_unpacked, "packing": packing,
               "concurrency": busy_s.sum() / span_s, "inside_span": span_s / end_to_end_s}
    factors["two_jobs"] = factors["per_job_speed"] * factors["concurrency"]
    factors["ratio"] = plain_s / end_to_end_s
    return factors


def the_plan_file(results_dir: Path) -> Path:
    """The one plan under RESULTS_DIR/plans; ValueError when there is none or several (several sweeps wrote
    there, so which one's time to read is not known)."""
    plans = sorted((Path(results_dir) / PLANS_SUBDIR).glob("*.json"))
    if len(plans) != 1:
        raise ValueError(f"--results-dir={results_dir}: {len(plans)} plan files under {PLANS_SUBDIR}/; the time to "
                         "a law is read from one fresh sweep's folder (one plan, every run trained by it)")
    return plans[0]


def fork_elapsed_s(results_dir: Path, runs: Sequence) -> pd.Series:
    """Elapsed training seconds of each wsd run's trunk at its fork, read from the trunk's kept state there
    (harness.trunks.state_path), by run id; ValueError naming a missing state (it was removed after the sweep)."""
    import torch

    elapsed = {}
    for run in (r for r in runs if r.trunk_id):
        path = state_path(results_dir, run.trunk_id, run.fork_step)
        if not path.exists():
            raise ValueError(f"--results-dir={results_dir}: trunk state {path} is missing, so the cooldown time of "
                             f"run {run.run_id[:8]} cannot be told from its trunk's")
        elapsed[run.run_id] = float(torch.load(path, map_location="cpu", weights_only=False)["curve"]["elapsed_s"])
    return pd.Series(elapsed, dtype=float)


def read_sweep_folder(results_dir: Path) -> tuple[pd.DataFrame, float]:
    """(units with their times, the plan file's mtime: when the sweep had planned and started launching)."""
    plan_path = the_plan_file(results_dir)
    plan = read_plan(str(plan_path))
    resolved = [unit_of(plan, i) for i in range(len(plan["units"]))]
    units = units_table(resolved, plan["unit_flops"])
    files = store.run_files(results_dir)
    mtimes = pd.Series({p.stem: p.stat().st_mtime for p in files}, dtype=float)
    runs = store.load_runs(results_dir) if files else pd.DataFrame({"run_id": [], "wall_time_s": []})
    trunk_runs = [r for unit, runs_ in zip(units.itertuples(), resolved) if unit.kind == "trunk" for r in runs_
                  if r.run_id in mtimes.index]
    return unit_times(units, runs, mtimes, fork_elapsed_s(results_dir, trunk_runs)), plan_path.stat().st_mtime
