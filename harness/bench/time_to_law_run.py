"""The time-to-a-law benchmark (scripts/bench_time_to_law.py): measure both ways, then write the table.

Plain way: the plain loop's step timed per distinct shape, interleaved with the trainer's (timing.measure_shape),
times each result's steps, plus a per-process start-up measured by starting plain processes; or, with `full`,
every plain run really trained in its own process. scalinglab: a sweep run now (`run_sweep`) or a finished
folder (`results_dir`), read by harness.bench.time_to_law.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pandas as pd
import torch

from harness.bench.plain_run import REPO_ROOT, plain_spec, time_plain_process
from harness.bench.report import markdown_table
from harness.bench.shapes import distinct_shapes, preset_plan
from harness.bench.sweep_time import log_span_s
from harness.bench.time_to_law import (TARGET_RATIO, breakdown, plain_runs, project_plain, read_sweep_folder,
                                       shape_label, units_table)
from harness.bench.timing import measure_shape
from harness.data import prepare_once
from harness.plan import measure_matmul_flops, plan_units

log = logging.getLogger("scalinglab.bench")
STARTUP_PROCESSES = 3  # timed start-ups (after one untimed, which may warm the disk cache); their median counts
SWEEP_TIMEOUT_S = 3 * 3600  # the default preset takes minutes on 2 cores; this only stops a hung sweep


@dataclass
class LawOptions:
    """What to measure (defaults: the projection for the default preset, a minute or two on a 2-core CPU)."""

    preset: str = "kaplan_fig1"
    overrides: List[str] = field(default_factory=list)  # Hydra overrides for the plan and the sweep
    steps: int = 20  # timed plain-loop (and trainer) steps per block
    rounds: int = 2  # interleaved blocks per contender
    warmup: int = 3  # untimed steps first
    full: bool = False  # train every plain run end to end, one process each, instead of projecting
    run_sweep: bool = False  # run scalinglab's sweep now, into out/sweep
    results_dir: Optional[Path] = None  # or read a finished sweep of the preset
    sweep_log: Optional[Path] = None  # that sweep's log: its end-to-end time from the time stamps
    out: Path = Path("results/bench_time_to_law")


def fresh_plan(opts: LawOptions, results_dir: Path):
    """The preset's plan as a sweep into an empty folder would train it."""
    return preset_plan(opts.preset, [*opts.overrides, f"sweep.results_dir={results_dir}"])


def tokens_path(run, cache: dict) -> str:
    """The cached train-split token ids of a run's data (prepared once if the cache is cold)."""
    return prepare_once(run.config.data, cache).train_tokens.filename


def measure_startup_s(spec) -> float:
    """Median wall seconds of STARTUP_PROCESSES plain processes that train 0 steps (one untimed before them)."""
    time_plain_process(spec)
    return statistics.median(time_plain_process(spec)[0] for _ in range(STARTUP_PROCESSES))


def measure_plain_steps(plan, opts: LawOptions, cache: dict, workdir: Path) -> pd.DataFrame:
    """Per distinct shape: plain-loop and trainer step seconds, timed in alternating blocks."""
    peak = measure_matmul_flops()
    rows = []
    for shape in distinct_shapes(opts.preset, plan):
        log.info("plain loop vs trainer: %s", shape.label)
        data = prepare_once(shape.run.config.data, cache)
        row = measure_shape(shape, data, torch.device("cpu"), opts.steps, opts.rounds, opts.warmup, peak, workdir)
        tokens = shape.run.tokens_per_step
        rows.append({"shape": shape_label(shape.run), "runs": len(shape.runs),
                     "plain_step_s": tokens / row["plain_tokens_per_s"],
                     "trainer_step_s": tokens / row["trainer_tokens_per_s"], "steps_timed": row["steps_timed"]})
    return pd.DataFrame(rows)


def plain_full(runs, cache: dict) -> pd.DataFrame:
    """Every plain run trained end to end, each in a fresh process: its wall time and its own training time."""
    rows = []
    for i, run in enumerate(runs):
        wall, out = time_plain_process(plain_spec(run, tokens_path(run, cache)))
        log.info("plain run %d/%d %s, %d steps: %.1f s", i + 1, len(runs), shape_label(run), run.steps, wall)
        rows.append({"run_id": run.run_id, "shape": shape_label(run), "steps": run.steps,
                     "plain_train_s": out["train_s"], "startup_s": wall - out["train_s"], "plain_s": wall})
    return pd.DataFrame(rows)


def run_sweep(opts: LawOptions) -> tuple[Path, float, Path]:
    """scalinglab's default way, now: (its results folder, wall seconds of the command, its log)."""
    results = opts.out / "sweep"
    if results.exists() and any(results.iterdir()):
        raise ValueError(f"--run-sweep writes to {results}, which is not empty: its finished runs would be skipped "
                         "and nothing timed; remove it or choose another --out")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "sweep.py"), f"sweep={opts.preset}",
               "sweep.analyze=false", f"sweep.results_dir={results}", *opts.overrides]
    sweep_log = opts.out / "sweep.log"
    opts.out.mkdir(parents=True, exist_ok=True)
    log.info("sweep: %s", " ".join(command))
    with open(sweep_log, "w") as out:
        start = time.perf_counter()
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, timeout=SWEEP_TIMEOUT_S)
        wall = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"the sweep exited {code}; its log: {sweep_log}")
    return results, wall, sweep_log


def scalinglab_time(opts: LawOptions, planned_ids: set) -> Optional[dict]:
    """The sweep's units with their times, its end-to-end seconds and how they were measured; None without one."""
    if opts.run_sweep:
        results, end_to_end, _ = run_sweep(opts)
        how = f"measured now: `python scripts/sweep.py sweep={opts.preset} sweep.analyze=false` (wall time)"
    elif opts.results_dir is not None:
        results, end_to_end = opts.results_dir, None
    else:
        return None
    units, plan_written = read_sweep_folder(results)
    folder_ids = {i for ids in units["run_ids"] for i in ids}
    if folder_ids != planned_ids:
        raise ValueError(f"{results}: its plan holds {len(folder_ids)} runs, {len(folder_ids - planned_ids)} of them "
                         f"not in preset {opts.preset} as planned now: a folder of another preset or config")
    span_s = units["end_s"].max() - units["start_s"].min()
    if end_to_end is None and opts.sweep_log is not None:
        end_to_end, how = log_span_s(opts.sweep_log), f"read from {results}: the sweep log's first to last time stamp"
    if end_to_end is None:
        end_to_end = units["end_s"].max() - plan_written
        how = f"read from {results}: its plan file's write to its last result (the command's start-up and planning " \
              "before it not included)"
    return {"units": units, "end_to_end_s": float(end_to_end), "how": how, "span_s": float(span_s)}


def unit_plain_s(units: pd.DataFrame, step_s: dict) -> pd.Series:
    """The plain loop's seconds for the steps each unit trains, at its shape's measured plain step."""
    return units["trained_steps"] * units["shape"].map(step_s)


def summary_rows(plain: pd.DataFrame, mode: str, units: pd.DataFrame, step_s: dict, sweep: Optional[dict]) -> list:
    """(what, value, how) rows of the table: both ways' times, the ratio and its factors."""
    train_s, startups_s = plain["plain_train_s"].sum(), plain["startup_s"].sum()
    total, n = train_s + startups_s, len(plain)
    flops_ratio = units["separate_flops"].sum() / units["trained_flops"].sum()
    rows = [("plain way: every result's steps, one run after another", train_s, mode),
            (f"plain way: {n} process start-ups", startups_s,
             f"python + torch import + data from cache, {startups_s / n:.2f} s each (measured)"),
            ("plain way, total", total, mode),
            ("exact FLOPs, every result as a separate run / what scalinglab trains", flops_ratio,
             f"the plan: {len(units)} units ({(units['kind'] == 'trunk').sum()} trunks, "
             f"{(units['kind'] == 'pack').sum()} packs)")]
    if sweep is None:
        return rows + [(f"scalinglab end to end needed for {TARGET_RATIO:g}x", total / TARGET_RATIO,
                        "no sweep measured: give --run-sweep or --results-dir")]
    su = sweep["units"]
    f = breakdown(train_s, startups_s, unit_plain_s(su, step_s), su["busy_s"], su["kind"] == "pack",
                  sweep["span_s"], sweep["end_to_end_s"])
    met = "met" if f["ratio"] >= TARGET_RATIO else "not met"
    packs = (su["kind"] == "pack").sum()
    return rows + [
        ("scalinglab default, end to end", sweep["end_to_end_s"], sweep["how"]),
        ("plain / scalinglab", f["ratio"], f"target >= {TARGET_RATIO:g}x: {met}"),
        ("x trunks: plain-loop time of every result's steps / of the steps trained", f["trunks"],
         "wsd trunks + cooldown branches"),
        ("x jobs side by side (= per-job speed x concurrency)", f["two_jobs"],
         "the preset's launcher: kaplan_fig1 runs two 1-thread jobs"),
        ("   per-job speed: plain loop (all cores) / the unit's time in its job", f["per_job_speed"],
         "evaluation and result writes included"),
        ("   concurrency: Σ unit seconds / span of the units", f["concurrency"], "at most the jobs side by side"),
        ("x packing", f["packing"], "nothing packs" if packs == 0 else f"{packs} packs"),
        ("x start-ups the plain way pays per result", f["startups"], f"{n} processes against the sweep's few"),
        ("x (1 - share outside the units' training)", f["inside_span"],
         f"share outside: {1 - f['inside_span']:.1%} (planning, job start-up, data)")]


def run_time_to_law(opts: LawOptions, command: str) -> str:
    """Measure what `opts` asks for; write time_to_law.md and parquet tables under opts.out; return the markdown."""
    if opts.run_sweep and opts.results_dir is not None:
        raise ValueError("--run-sweep and --results-dir both give the sweep: choose one")
    if opts.steps < 1 or opts.rounds < 1:
        raise ValueError(f"--steps={opts.steps}, --rounds={opts.rounds}: both must be >= 1")
    load_before = os.getloadavg()
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        plan = fresh_plan(opts, Path(tmp) / "fresh")
        runs = [p.run for p in plan]
        planned = plan_units(plan)
        units = units_table([u.unit.runs for u in planned], [u.cost.flops for u in planned])
        if opts.full:
            plain = plain_full(runs, cache)
            sums = plain.groupby("shape")[["plain_train_s", "steps"]].sum()
            step_s = (sums["plain_train_s"] / sums["steps"]).to_dict()
            mode = f"measured: each of {len(runs)} plain runs end to end in its own process (--full)"
            shapes = pd.DataFrame({"shape": list(step_s), "plain_step_s": list(step_s.values())})
        else:
            shapes = measure_plain_steps(plan, opts, cache, Path(tmp))
            step_s = dict(zip(shapes["shape"], shapes["plain_step_s"]))
            startup = measure_startup_s(plain_spec(runs[0], tokens_path(runs[0], cache), steps=0))
            plain = project_plain(plain_runs(runs), step_s, startup)
            mode = (f"projection: Σ steps x plain-loop step per shape ({len(step_s)} shapes, "
                    f"{opts.steps * opts.rounds} steps each, interleaved with the trainer's)")
        sweep = scalinglab_time(opts, {r.run_id for r in runs})
    rows = summary_rows(plain, mode, units, step_s, sweep)
    return write_tables(opts, command, rows, plain, shapes, sweep, (load_before, os.getloadavg()))


def write_tables(opts: LawOptions, command: str, rows: list, plain: pd.DataFrame, shapes: pd.DataFrame,
                 sweep: Optional[dict], loads: tuple) -> str:
    """time_to_law.md (the summary and the per-shape steps) and one parquet file per table under opts.out."""
    opts.out.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(rows, columns=["what", "value", "how"])
    summary.to_parquet(opts.out / "time_to_law.parquet", index=False)
    plain.to_parquet(opts.out / "plain_runs.parquet", index=False)
    shapes.to_parquet(opts.out / "plain_shapes.parquet", index=False)
    if sweep is not None:
        sweep["units"].drop(columns=["run_ids"]).to_parquet(opts.out / "sweep_units.parquet", index=False)
    (before, after) = loads
    text = "\n".join([f"# Time to a scaling law: preset {opts.preset}", "", f"`{command}`", "",
                      f"{os.cpu_count()} cores, torch {torch.__version__}, load average {before[0]:.1f} at the start "
                      f"and {after[0]:.1f} at the end (seconds unless the row is a ratio).", "",
                      markdown_table(summary), "", "## Plain-loop step per shape", "", markdown_table(shapes), ""])
    (opts.out / "time_to_law.md").write_text(text)
    return text
