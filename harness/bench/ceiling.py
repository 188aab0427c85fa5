"""How much faster than the plain loop a whole preset could run at all: its compute floor at the measured peak.

A sweep cannot finish faster than its training FLOPs (exact count) divided by the machine's measured
dense matmul peak. The plain loop's time for the same runs, divided by that floor, is the most any
trainer of the same precision can gain over it on this machine (with no evaluation, no start-up and
every matmul at peak); the MFU a trainer must average to reach the speed-up target follows from it.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd

SPEEDUP_TARGET = 1.5
"""The CPU speed target: whole-sweep tokens/s at least 1.5x the plain loop's on the default preset."""


def preset_ceiling(shapes: pd.DataFrame, peak_flops_per_s: float, sweep: Optional[pd.DataFrame] = None,
                   sweep_preset: Optional[str] = None) -> pd.DataFrame:
    """Per preset: plain-loop and trainer step time over all its planned runs, the compute floor, the ceiling.

    `shapes` is measure_shapes' table (one row per shape with tokens_shape_runs, plain/trainer tokens/s,
    flops_per_token_exact and the eval seconds of its runs). With `sweep` (sweep_summary's one row) for
    `sweep_preset`, that preset's row also gets the finished sweep's end-to-end time and its measured
    speed-up over the plain loop's steps.
    """
    frame = shapes.assign(
        plain_s=shapes["tokens_shape_runs"] / shapes["plain_tokens_per_s"],
        trainer_s=shapes["tokens_shape_runs"] / shapes["trainer_tokens_per_s"],
        train_flops=shapes["tokens_shape_runs"] * shapes["flops_per_token_exact"])
    sums = frame.groupby("preset", sort=False)[["plain_s", "trainer_s", "eval_s_shape_runs", "train_flops"]].sum()
    table = pd.DataFrame({
        "plain_loop_steps_s": sums["plain_s"],
        "trainer_steps_s": sums["trainer_s"],
        "trainer_steps_and_eval_s": sums["trainer_s"] + sums["eval_s_shape_runs"],
        "train_flops_exact": sums["train_flops"],
        "compute_floor_s": sums["train_flops"] / peak_flops_per_s,
    })
    table["plain_loop_mfu"] = table["compute_floor_s"] / table["plain_loop_steps_s"]
    table["ceiling_over_plain"] = table["plain_loop_steps_s"] / table["compute_floor_s"]
    table["mfu_needed_for_target"] = SPEEDUP_TARGET * table["compute_floor_s"] / table["plain_loop_steps_s"]
    table["sweep_end_to_end_s"] = float("nan")
    table["sweep_over_plain"] = float("nan")
    if sweep is not None and sweep_preset in table.index:
        end_to_end = float(sweep["end_to_end_s"].iloc[0])
        table.loc[sweep_preset, "sweep_end_to_end_s"] = end_to_end
        table.loc[sweep_preset, "sweep_over_plain"] = table.loc[sweep_preset, "plain_loop_steps_s"] / end_to_end
    return table.reset_index()
