"""Where a finished sweep's wall time went: planned compute, per-run training time, end-to-end time, overhead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from harness import store
from harness.plan import PlannedRun
from models.flops import TRAIN_FLOPS_PER_TOKEN

# "[10:25:39] sweep plan: ..." (scripts/sweep.py) or "[2026-11-23 10:25:39,123][...]" (Hydra's job log).
LOG_TIME = re.compile(r"^\[(?:\d{4}-\d{2}-\d{2}[ T])?(\d{2}):(\d{2}):(\d{2})")
DAY_S = 24 * 3600


def log_span_s(log_path: Path) -> Optional[float]:
    """Seconds from the first to the last time-stamped line of a sweep log (days rolled over); None if < 2 stamps."""
    stamps = []
    for line in Path(log_path).read_text(errors="replace").splitlines():
        match = LOG_TIME.match(line)
        if match:
            h, m, s = (int(g) for g in match.groups())
            stamps.append(3600 * h + 60 * m + s)
    if len(stamps) < 2:
        return None
    span = 0.0
    for earlier, later in zip(stamps, stamps[1:]):
        span += (later - earlier) % DAY_S  # a stamp earlier than its predecessor is the next day
    return span


def file_mtimes(files: Sequence[Path]) -> pd.Series:
    """Each run file's mtime (when its run finished), indexed by run id."""
    return pd.Series({p.stem: p.stat().st_mtime for p in files})


def files_span_s(runs: pd.DataFrame, mtimes: pd.Series) -> float:
    """End-to-end seconds from the run files: last mtime - (first mtime - that first run's wall_time_s)."""
    first = mtimes.idxmin()
    first_wall = float(runs.set_index("run_id").loc[first, "wall_time_s"])
    return float(mtimes.max() - (mtimes.min() - first_wall))


def planned_compute(plan: Sequence[PlannedRun]) -> dict:
    """Sum over the plan of 6ND and of the exact training FLOPs (Hoffmann 2022 app. F)."""
    return {"planned_runs": len(plan),
            "planned_flops_6nd": float(sum(6 * p.run.params.non_embedding * p.run.tokens for p in plan)),
            "planned_flops_exact": float(sum(p.run.tokens * TRAIN_FLOPS_PER_TOKEN["exact"](p.run.gpt)
                                             for p in plan))}


def sweep_summary(results_dir: Path, runs: pd.DataFrame, plan: Sequence[PlannedRun],
                  sweep_log: Optional[Path] = None) -> dict:
    """Planned compute, Σ wall_time_s, end-to-end time (and its source), and the share outside training runs,
    for the finished `runs` (store.load_runs) of `results_dir`."""
    files = store.run_files(results_dir)
    if not files:
        raise FileNotFoundError(f"--results-dir={results_dir}: no run files under {store.runs_dir(results_dir)}")
    span = log_span_s(sweep_log) if sweep_log else None
    source = f"sweep log {sweep_log}" if span is not None else "run-file mtimes + first run's wall_time_s"
    mtimes = file_mtimes(files)
    if span is None:
        span = files_span_s(runs, mtimes)
    train_s = float(runs["wall_time_s"].sum())
    overlapped = runs_overlapped(runs, mtimes) or train_s > span
    return {**planned_compute(plan), "runs_found": len(runs), "sum_wall_time_s": train_s,
            "end_to_end_s": span, "end_to_end_source": source,
            "runs_overlapped": overlapped,
            "outside_training_fraction": float("nan") if overlapped else (span - train_s) / span}


def runs_overlapped(runs: pd.DataFrame, ends: pd.Series) -> bool:
    """Whether any two runs trained at the same time: each run's training is taken to end at its file's mtime
    (file_mtimes) and to have lasted its wall_time_s. Then (end-to-end - Σ wall time) is not time spent
    outside training."""
    walls = runs.set_index("run_id")["wall_time_s"].reindex(ends.index)
    order = ends.sort_values().index
    starts, ends = (ends - walls)[order].to_numpy(), ends[order].to_numpy()
    return bool((starts[1:] < ends[:-1]).any())


def per_run_times(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run (store.load_runs): shape, D, wall time, measured tokens/s and FLOPs/s (exact)."""
    cols = ["run_id", "grid", "n_layer", "d_model", "params_non_embedding", "tokens", "steps", "wall_time_s"]
    table = runs[cols].copy()
    table["tokens_per_s"] = runs["tokens"] / runs["wall_time_s"]
    table["flops_per_s_exact"] = table["tokens_per_s"] * runs["flops_per_token_exact"]
    return table.sort_values(["grid", "params_non_embedding", "tokens"]).reset_index(drop=True)
