"""The whole benchmark in one process: peak, trainer vs plain loop per shape, eval cost, threads, sweep, variants."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd
import torch

from harness import store
from harness.bench.ceiling import preset_ceiling
from harness.bench.machine import Machine, describe, measure_peak
from harness.bench.profile import profile_step
from harness.bench.report import write_outputs
from harness.bench.shapes import BenchShape, find_shape, preset_plan, preset_shapes
from harness.bench.sweep_time import per_run_times, sweep_summary
from harness.bench.threads import compare_processes, compare_threads
from harness.bench.timing import measure_shape
from harness.bench.variants import compare_variants
from harness.data import PreparedData, prepare_once
from harness.device import pick_device

log = logging.getLogger("scalinglab.bench")
VARIANT_PRESET = "kaplan_fig1"
# Processes timed side by side step for at least this long, so that each total covers seconds of
# overlap: 20 steps are 0.2 s on the tiniest shape, and with fixed step counts a process that finished
# early left the other running alone (the old per-process sum reported 1.38x on 6 x 128 where these
# windows measure 1.16-1.18x). The barrier releases them within ~0.1 ms (start_spread_s).
SIDE_BY_SIDE_S = 3.0
VARIANT_SHAPES = ((4, 96), (2, 32))  # (n_layer, d_model): batch 16, n_ctx 128, vocab 1024 in kaplan_fig1


@dataclass
class BenchOptions:
    """What to measure and how long (defaults: a few minutes on a 2-core CPU)."""

    presets: List[str] = field(default_factory=lambda: ["smoke", "kaplan_fig1"])
    steps: int = 20  # timed steps per measurement block
    rounds: int = 4  # interleaved blocks per contender (A B, B A, ...)
    warmup: int = 3  # untimed steps before the first block
    max_shapes: int = 0  # per preset; 0 = all distinct shapes
    device: str = "auto"
    threads: int = 0  # torch threads of this process; 0 = all cores
    overrides: List[str] = field(default_factory=list)  # Hydra overrides applied to every preset
    results_dir: Optional[Path] = None  # a finished sweep of sweep_preset
    sweep_log: Optional[Path] = None
    sweep_preset: str = "kaplan_fig1"
    thread_compare: bool = True
    side_by_side_s: float = SIDE_BY_SIDE_S  # each process of the threads and processes tables steps this long
    processes: tuple = ()  # k trainer processes side by side on the device vs one (several tiny runs per GPU);
    # only when asked: each k starts k processes for the smallest and largest shape of every preset
    profile: bool = False  # where the step's time goes, smallest and largest shape of each preset (CPU only)
    variants: bool = False
    variant_compile: bool = False
    out: Path = Path("results/bench")
    peak_sizes: Optional[tuple] = None  # square matmul sizes of the peak measurement; None: the device's own


def preset_eval_table(shapes: pd.DataFrame) -> pd.DataFrame:
    """Per preset: Σ eval seconds / Σ (eval + training) seconds over every planned run, from the measured times."""
    sums = shapes.groupby("preset", sort=False)[["eval_s_shape_runs", "train_s_shape_runs"]].sum()
    sums["eval_fraction"] = sums["eval_s_shape_runs"] / (sums["eval_s_shape_runs"] + sums["train_s_shape_runs"])
    return sums.reset_index().rename(columns={"eval_s_shape_runs": "eval_s", "train_s_shape_runs": "train_s"})


def measure_shapes(by_preset: Dict[str, List[BenchShape]], opts: BenchOptions, device: torch.device,
                   machine: Machine, cache: dict, workdir: Path) -> pd.DataFrame:
    """One row per (preset, shape): trainer vs plain loop and eval cost."""
    rows = []
    for shapes in by_preset.values():
        for shape in shapes:
            log.info("shape %s %s", shape.preset, shape.label)
            data = prepare_once(shape.run.config.data, cache)
            rows.append(measure_shape(shape, data, device, opts.steps, opts.rounds, opts.warmup,
                                      machine.peak_flops_per_s, workdir))
    return pd.DataFrame(rows)


def smallest_and_largest(by_preset: Dict[str, List[BenchShape]]) -> List[BenchShape]:
    """The smallest and the largest shape of each preset (one when it has one)."""
    return [s for shapes in by_preset.values() for s in ([shapes[0]] if len(shapes) == 1 else [shapes[0], shapes[-1]])]


def measure_threads(by_preset: Dict[str, List[BenchShape]], opts: BenchOptions, cache: dict) -> pd.DataFrame:
    """Threads per job for the smallest and largest shape of each preset (CPU with >= 2 cores only)."""
    cores = torch.get_num_threads()
    rows = []
    for shape in smallest_and_largest(by_preset):
        log.info("threads %s %s", shape.preset, shape.label)
        data = prepare_once(shape.run.config.data, cache)
        rows.append(compare_threads(shape, data, opts.steps, opts.warmup, opts.side_by_side_s, cores))
    return pd.DataFrame(rows)


def measure_processes(by_preset: Dict[str, List[BenchShape]], opts: BenchOptions, device: torch.device,
                      counts: tuple, cache: dict) -> pd.DataFrame:
    """k processes sharing the device vs one, for the smallest and largest shape of each preset."""
    rows = []
    for shape in smallest_and_largest(by_preset):
        log.info("processes %s %s on %s: %s", shape.preset, shape.label, device, counts)
        data = prepare_once(shape.run.config.data, cache)
        rows += compare_processes(shape, data, device, counts, opts.steps, opts.warmup, opts.side_by_side_s)
    return pd.DataFrame(rows)


def measure_profiles(by_preset: Dict[str, List[BenchShape]], opts: BenchOptions, peak_flops_per_s: float,
                     cache: dict, workdir: Path) -> pd.DataFrame:
    """The step's time by op group for the smallest and largest shape of each preset."""
    rows = []
    for shape in smallest_and_largest(by_preset):
        log.info("profile %s %s", shape.preset, shape.label)
        data = prepare_once(shape.run.config.data, cache)
        rows += profile_step(shape, data, opts.steps, opts.warmup, peak_flops_per_s, workdir)
    return pd.DataFrame(rows)


def measure_variants(opts: BenchOptions, device: torch.device, cache: dict, workdir: Path) -> pd.DataFrame:
    """Candidate trainer changes on the VARIANT_SHAPES of VARIANT_PRESET."""
    shapes = preset_shapes(VARIANT_PRESET, opts.overrides)
    rows = []
    for n_layer, d_model in VARIANT_SHAPES:
        shape = find_shape(shapes, n_layer, d_model)
        log.info("variants %s", shape.label)
        data = prepare_once(shape.run.config.data, cache)
        rows += compare_variants(shape, data, device, workdir, opts.steps, opts.rounds, opts.warmup,
                                 opts.variant_compile)
    return pd.DataFrame(rows)


def measure_sweep(opts: BenchOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished sweep's summary row and per-run times."""
    plan = preset_plan(opts.sweep_preset, opts.overrides)
    runs = store.load_runs(opts.results_dir)
    presets = sorted(set(runs["preset"])) if not runs.empty else [opts.sweep_preset]  # empty: sweep_summary says so
    if presets != [opts.sweep_preset]:
        raise ValueError(f"--results-dir={opts.results_dir} holds runs of preset {', '.join(presets)}, but "
                         f"--sweep-preset is {opts.sweep_preset}: its plan would be the wrong one to compare with")
    summary = sweep_summary(opts.results_dir, runs, plan, opts.sweep_log)
    return pd.DataFrame([summary]), per_run_times(runs)


def run_benchmark(opts: BenchOptions, command: str = "python scripts/bench.py") -> str:
    """Measure everything `opts` asks for, write parquet + markdown under opts.out, return the markdown."""
    device = pick_device(opts.device)
    if opts.steps < 1 or opts.side_by_side_s <= 0:
        raise ValueError(f"steps={opts.steps}, side_by_side_s={opts.side_by_side_s}: both must be > 0")
    if any(k < 1 for k in opts.processes):
        raise ValueError(f"--processes {' '.join(map(str, opts.processes))}: every count must be >= 1")
    if opts.profile and device.type != "cpu":
        raise ValueError(f"--profile times ops on the CPU only; this run's device is {device}")
    threads_before = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _measure_and_write(opts, device, command)
    finally:
        torch.set_num_threads(threads_before)


def _measure_and_write(opts: BenchOptions, device: torch.device, command: str) -> str:
    machine = describe(device, opts.peak_sizes)
    by_preset = {p: preset_shapes(p, opts.overrides) for p in opts.presets}
    if opts.max_shapes:
        by_preset = {p: s[:opts.max_shapes] for p, s in by_preset.items()}
    cache: Dict[str, PreparedData] = {}
    tables: Dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tables["shapes"] = measure_shapes(by_preset, opts, device, machine, cache, Path(tmp))
        tables["presets"] = preset_eval_table(tables["shapes"])
        if opts.thread_compare and device.type == "cpu" and torch.get_num_threads() >= 2:
            tables["threads"] = measure_threads(by_preset, opts, cache)
        if opts.processes:
            tables["processes"] = measure_processes(by_preset, opts, device, opts.processes, cache)
        if opts.profile:
            tables["profile"] = measure_profiles(by_preset, opts, machine.peak_flops_per_s, cache, Path(tmp))
        if opts.results_dir is not None:
            tables["sweep"], tables["sweep_runs"] = measure_sweep(opts)
        tables["ceiling"] = preset_ceiling(tables["shapes"], machine.peak_flops_per_s, tables.get("sweep"),
                                           opts.sweep_preset)
        if opts.variants:
            tables["variants"] = measure_variants(opts, device, cache, Path(tmp))
    machine = dataclasses.replace(machine, peak_end_flops_per_s=measure_peak(device, machine.peak_sizes))
    return write_outputs(Path(opts.out), machine, tables, command)
