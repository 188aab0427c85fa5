"""The GPU measurement of scripts/gpu_bench.py, in one call of under 8 minutes on one H100/H200-class GPU.

    peak           the measured bf16 matmul peak (large squares) beside the device's datasheet peak
    mfu            the trainer's tokens/s and MFU at 8 x 512 and GPT-2 small's 12 x 768 (context 1024, bf16
                   autocast), eager and under torch.compile, against both peaks
    packed         k tiny models packed in one process against k processes of one model each, k = 1 ... 16
                   (gpu_packed.py)
    default_sweep  the default preset (`python scripts/sweep.py`) end to end on the device, within a time limit,
                   beside its CPU time

Each table is written (parquet, and gpu_bench.md) as soon as it is measured, so a call stopped early keeps
what it measured. With tiny_options the same code runs on the CPU in seconds (tests/test_bench_gpu.py).
"""

from __future__ import annotations

import gc
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
import torch

from configs.data import DataConfig
from harness import store
from harness.bench.datasheet import DatasheetPeak, datasheet_peak
from harness.bench.gpu_packed import PackedOptions, packed_table
from harness.bench.gpu_report import GpuReport
from harness.bench.limited import run_with_limit
from harness.bench.machine import GPU_PEAK_SIZES, PEAK_MIN_TIME_S, PEAK_TRIALS, peak_dtype_for, processor_name
from harness.bench.shapes import preset_plan
from harness.bench.timing import timed_seconds, trainer_stepper
from harness.data import prepare_once
from harness.device import matmul_flops_per_s, pick_device
from harness.plan_file import read_plan
from harness.resolve import ResolvedRun
from harness.trainer import Trainer
from models.flops import TRAIN_FLOPS_PER_TOKEN

MFU_SHAPES = ((8, 512), (12, 768))  # (n_layer, d_model): N = 2.5e7, and GPT-2 small's 8.5e7 (Radford et al. 2019)
MFU_N_CTX = 1024  # GPT-2's context
MFU_BATCH = 32  # sequences a step (train.batch_size's default): 32,768 tokens
MFU_D_HEAD = 64  # GPT-2's heads: 8 of 64 at d_model 512, 12 at 768
# 'max-autotune' benchmarks kernels for minutes per shape, past this script's budget; 'reduce-overhead' (CUDA
# graphs) is for launch-bound tiny models, not these.
COMPILE_MODE = "default"
WARMUP_STEPS = 5  # untimed: allocator warm-up, cuBLAS heuristics, and the compiled rows' compilation
BLOCKS, BLOCK_STEPS = 3, 10  # timed: 3 blocks of 10 steps (about 0.5 s each for 12 x 768 at 40% MFU of an H100)
BUDGET_S = 450.0  # the whole measurement, so that one call with start-up and transfers stays under 8 minutes
SWEEP_LIMIT_S = 240.0  # the default preset's time limit (it gets less when the stages before it ran long)
# docs/speed.md: `python scripts/sweep.py` took 4 min 51 s (291 s) on a 2-core Intel Xeon VM with nothing else
# running, torch 2.13.0 CPU, warm data cache, 2026-12-02.
CPU_DEFAULT_SWEEP_S = 291.0
SWEEP_RESULTS = "default_sweep"  # the sweep's results folder under the output folder
SMOKE_DATA = ("data.stdlib_max_files=60", "data.vocab_size=384", "data.test_windows=32")  # the smoke preset's


@dataclass(frozen=True)
class GpuBenchOptions:
    """What scripts/gpu_bench.py measures; the defaults are the GPU call, tiny_options the CPU test."""

    out: Path
    device: str = "cuda"
    peak_sizes: tuple = GPU_PEAK_SIZES
    shapes: tuple = MFU_SHAPES
    n_ctx: int = MFU_N_CTX
    d_head: int = MFU_D_HEAD
    batch_size: int = MFU_BATCH
    compile_mode: str = COMPILE_MODE
    warmup_steps: int = WARMUP_STEPS
    blocks: int = BLOCKS
    block_steps: int = BLOCK_STEPS
    overrides: tuple = ()
    """Hydra overrides of the trainer runs (the data they read)."""
    sweep_args: tuple = ()
    """Arguments of scripts/sweep.py after the results folder: none is the default preset, as the README runs it."""
    sweep_limit_s: float = SWEEP_LIMIT_S
    cpu_sweep_s: float = CPU_DEFAULT_SWEEP_S
    """The same sweep's time on the CPU, for the comparison (NaN: none to compare with)."""
    budget_s: float = BUDGET_S
    threads: int = 0
    """torch CPU threads of this process; 0 leaves torch's default."""
    packed: PackedOptions = PackedOptions()
    skip_packed: bool = False
    """Leave out the packed table."""


def tiny_options(out: Path, cache_dir: Optional[str], skip_packed: bool) -> GpuBenchOptions:
    """Every stage on the CPU in seconds: tiny matmuls, one tiny shape (the 2 x 32 that tests/test_harness_compile.py
    compiles too, so the suite's inductor cache serves both), packs of 1 and 2 of one 1 x 16 shape against 1 and
    2 processes (one round), two smoke runs of 8 steps."""
    cache = (f"data.cache_dir={cache_dir}",) if cache_dir else ()
    return GpuBenchOptions(
        out=out, device="cpu", peak_sizes=(64, 128), shapes=((2, 32),), n_ctx=64, d_head=16, batch_size=8, warmup_steps=1,
        blocks=2, block_steps=2, overrides=(*SMOKE_DATA, *cache),
        sweep_args=("sweep=smoke", "model.d_model=16", "model.n_layer=1,2", "train.tokens=4096", "train.threads=1",
                    "sweep.analyze=false", *cache),
        # limit 0: the second round is skipped, as on a device that ran past the table's limit
        packed=PackedOptions(shapes=((1, 16),), sizes=(1, 2), window_s=0.2, warmup_steps=1, limit_s=0.0),
        cpu_sweep_s=math.nan, threads=1, skip_packed=skip_packed)  # 1 thread: a shared 2-core CPU stays steady


def device_name(device: torch.device) -> str:
    """'NVIDIA H100 80GB HBM3' on CUDA (what the datasheet table matches), the CPU's model name elsewhere."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else processor_name()


def peak_table(device: torch.device, sizes: Sequence[int], sheet: Optional[DatasheetPeak]) -> pd.DataFrame:
    """One row per square matmul size: its measured FLOP/s in the device's peak dtype, beside the datasheet peak."""
    dtype = peak_dtype_for(device)
    rows = []
    for n in sizes:
        flops = matmul_flops_per_s(n, dtype, device, PEAK_TRIALS, PEAK_MIN_TIME_S)
        rows.append({"size": n, "dtype": str(dtype).removeprefix("torch."), "measured_flops_per_s": flops,
                     "datasheet_device": sheet.device if sheet else "", "datasheet_flops_per_s":
                     sheet.flops_per_s if sheet else math.nan,
                     "measured_over_datasheet": flops / sheet.flops_per_s if sheet else math.nan})
    return pd.DataFrame(rows)


def mfu_columns(tokens_per_s: float, flops_per_token: float, measured_peak: float,
                sheet: Optional[DatasheetPeak]) -> dict:
    """FLOP/s by the exact count, and MFU against the measured peak and (NaN when unknown) the datasheet's."""
    flops_per_s = tokens_per_s * flops_per_token
    return {"flops_per_s": flops_per_s, "mfu_measured_peak": flops_per_s / measured_peak,
            "mfu_datasheet_peak": flops_per_s / sheet.flops_per_s if sheet else math.nan}


def trainer_run(opts: GpuBenchOptions, n_layer: int, d_model: int, compile_mode: str) -> ResolvedRun:
    """The resolved run the trainer is timed on: the shape, bf16 on CUDA, its tokens exactly the steps timed."""
    steps = opts.warmup_steps + opts.blocks * opts.block_steps
    overrides = [f"model.n_layer={n_layer}", f"model.d_model={d_model}", f"model.d_head={opts.d_head}",
                 f"model.n_ctx={opts.n_ctx}", f"train.batch_size={opts.batch_size}",
                 f"train.tokens={steps * opts.batch_size * opts.n_ctx}", f"train.compile={compile_mode}",
                 *opts.overrides]
    return preset_plan("single", overrides)[0].run


def time_trainer(run: ResolvedRun, data, device: torch.device, opts: GpuBenchOptions, workdir: Path) -> dict:
    """The trainer's own step (Trainer._step) timed: warm-up (compilation included) apart, then the blocks."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = trainer_stepper(Trainer(run, data, device, workdir / "gpu-bench-checkpoint.pt"))
    warmup_s = timed_seconds(step, opts.warmup_steps, device)
    blocks = [timed_seconds(step, opts.block_steps, device) for _ in range(opts.blocks)]
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else math.nan
    tokens = opts.blocks * opts.block_steps * run.tokens_per_step
    return {"warmup_s": warmup_s, "ms_per_step": 1e3 * sum(blocks) / (opts.blocks * opts.block_steps),
            "tokens_per_s": tokens / sum(blocks), "slowest_block_over_fastest": max(blocks) / min(blocks),
            "max_memory_gib": memory}


def mfu_table(opts: GpuBenchOptions, device: torch.device, measured_peak: float, sheet: Optional[DatasheetPeak],
              cache: dict, workdir: Path) -> pd.DataFrame:
    """Per shape, eager and compiled: tokens/s, ms a step, and MFU (exact count) against both peaks."""
    rows = []
    for n_layer, d_model in opts.shapes:
        for mode in ("none", opts.compile_mode):
            run = trainer_run(opts, n_layer, d_model, mode)
            flops = TRAIN_FLOPS_PER_TOKEN["exact"](run.gpt)
            timing = time_trainer(run, prepare_once(run.config.data, cache), device, opts, workdir)
            rows.append({"shape": f"{n_layer} x {d_model}", "params_non_embedding": run.params.non_embedding,
                         "n_ctx": run.gpt.n_ctx, "batch_size": run.batch_size, "vocab_size": run.gpt.vocab_size,
                         "compile": mode, "flops_per_token_exact": flops, **timing,
                         **mfu_columns(timing["tokens_per_s"], flops, measured_peak, sheet)})
            gc.collect()  # the trainer and its optimizer state go before the next one is built
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return pd.DataFrame(rows)


def sweep_table(opts: GpuBenchOptions, sweep_script: Path, limit_s: float) -> pd.DataFrame:
    """The sweep of opts.sweep_args end to end, stopped at `limit_s`: wall time, runs finished, their training time."""
    results = (opts.out / SWEEP_RESULTS).absolute()  # the sweep runs in opts.out: a relative path would nest
    argv = [sys.executable, str(sweep_script), f"sweep.results_dir={results}", *opts.sweep_args]
    ran = run_with_limit(argv, limit_s, opts.out / f"{SWEEP_RESULTS}.log", opts.out)
    plans = sorted((results / "plans").glob("*.json"))
    runs = store.load_runs(results)
    return pd.DataFrame([{
        "command": " ".join(["python", "scripts/sweep.py", *opts.sweep_args]), "limit_s": limit_s,
        "wall_s": ran.wall_s, "timed_out": ran.timed_out,
        "exit_status": -1 if ran.exit_status is None else ran.exit_status,
        "runs_planned": sum(len(unit) for unit in read_plan(str(plans[0]))["units"]) if len(plans) == 1 else -1,
        "runs_finished": len(runs), "sum_run_wall_time_s": float(runs["wall_time_s"].sum()) if len(runs) else 0.0,
        # stopped at the limit, the sweep's own time is unknown: no ratio rather than a bound read as a figure
        "cpu_s": opts.cpu_sweep_s, "cpu_over_device": math.nan if ran.timed_out else opts.cpu_sweep_s / ran.wall_s}])


def run_gpu_bench(opts: GpuBenchOptions, sweep_script: Path, command: str) -> str:
    """Measure every table in turn, writing each as it is done; return the markdown report."""
    threads_before = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return _measure(opts, sweep_script, command)
    finally:
        torch.set_num_threads(threads_before)


def _measure(opts: GpuBenchOptions, sweep_script: Path, command: str) -> str:
    start = time.monotonic()
    device = pick_device(opts.device)
    if (opts.out / SWEEP_RESULTS).exists():  # a re-run would skip its finished runs and time nothing
        raise FileExistsError(f"{opts.out / SWEEP_RESULTS} exists: remove it or give another --out")
    name = device_name(device)
    sheet = datasheet_peak(name) if device.type == "cuda" else None
    report = GpuReport(opts.out, command, device, name, sheet, packed_skipped=opts.skip_packed)
    peaks = report.add("peak", peak_table(device, opts.peak_sizes, sheet))
    measured_peak = float(peaks["measured_flops_per_s"].max())
    cache: dict = {}
    with tempfile.TemporaryDirectory() as work:
        report.note_data_seconds(prepare_data_timed(trainer_run(opts, *opts.shapes[0], "none").config.data, cache))
        report.add("mfu", mfu_table(opts, device, measured_peak, sheet, cache, Path(work)))
    if not opts.skip_packed:  # on the mfu rows' data (the same default data, prepared once)
        report.add("packed", packed_table(opts.packed, device, measured_peak, opts.overrides, opts.threads, cache))
    report.add("default_sweep", sweep_table(opts, sweep_script, sweep_limit_s(opts, time.monotonic() - start)))
    return report.write()


def sweep_limit_s(opts: GpuBenchOptions, elapsed_s: float) -> float:
    """The sweep's time limit: its own, or what is left of the budget after `elapsed_s`, whichever is shorter."""
    return min(opts.sweep_limit_s, max(opts.budget_s - elapsed_s, 0.0))


def prepare_data_timed(data: DataConfig, cache: dict) -> float:
    """Seconds to prepare the trainer runs' data (tokenizer and token ids; a cold cache trains and encodes)."""
    start = time.monotonic()
    prepare_once(data, cache)
    return time.monotonic() - start
