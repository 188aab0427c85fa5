"""The GPU measurement's report: one parquet file per table and gpu_bench.md, rewritten as each table is added."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Dict, Optional

import pandas as pd
import torch

from harness.bench.datasheet import DatasheetPeak
from harness.bench.report import markdown_table

MARKDOWN_NAME = "gpu_bench.md"
TITLES = {
    "peak": "Dense matmul peak: measured (best of 5 timings per square size) beside the datasheet",
    "packed": ("k tiny models packed in one process against k processes of one model each: total tokens/s, the "
               "ratio (median of the rounds', with min and max), and each against one process of one model"),
    "mfu": ("The trainer's step (Trainer._step) at each shape, eager and compiled: tokens/s and MFU by the exact "
            "count, against the measured and the datasheet peak"),
    "default_sweep": "The default preset end to end on this device, within a time limit, beside its CPU time",
}
# Columns shown in the markdown (the parquet keeps every column, FLOP/s unscaled): table -> {column: header}.
SHOWN = {
    "peak": {"size": "size", "dtype": "dtype", "measured_tflops": "measured TFLOP/s",
             "datasheet_device": "datasheet device", "datasheet_tflops": "datasheet TFLOP/s",
             "measured_over_datasheet": "measured / datasheet"},
    "mfu": {"shape": "shape", "params_non_embedding": "N", "n_ctx": "ctx", "batch_size": "batch",
            "compile": "compile", "warmup_s": "warm-up s", "ms_per_step": "ms/step", "tokens_per_s": "tokens/s",
            "tflops": "TFLOP/s", "mfu_measured_peak": "MFU (measured peak)",
            "mfu_datasheet_peak": "MFU (datasheet peak)", "max_memory_gib": "max GiB"},
    "packed": {"shape": "shape", "params_non_embedding": "N", "n_ctx": "ctx", "batch_size": "batch", "models": "k",
               "rounds": "rounds", "separate_tokens_per_s": "k processes, tokens/s",
               "packed_tokens_per_s": "pack of k, tokens/s", "packed_over_separate": "packed / separate",
               "ratio_min": "min", "ratio_max": "max", "separate_over_one_model": "k processes / one model",
               "packed_over_one_model": "pack / one model", "packed_mfu_measured_peak": "pack MFU (measured peak)"},
    "default_sweep": {"command": "command", "limit_s": "limit s", "wall_s": "wall s", "timed_out": "stopped at limit",
                      "exit_status": "exit status", "runs_planned": "runs planned", "runs_finished": "runs finished",
                      "sum_run_wall_time_s": "Σ run wall_time_s", "cpu_s": "2-core CPU s",
                      "cpu_over_device": "CPU / this device"},
}
TERA = 1e12
PACKED_SKIPPED = "Packed tiny models against one process per model: not measured (`--skip-packed`)."


def shown(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the markdown shows, renamed, FLOP/s as TFLOP/s."""
    if name not in SHOWN:
        return frame
    frame = frame.copy()
    for column in ("measured", "datasheet"):
        if f"{column}_flops_per_s" in frame:
            frame[f"{column}_tflops"] = frame[f"{column}_flops_per_s"] / TERA
    if "flops_per_s" in frame:
        frame["tflops"] = frame["flops_per_s"] / TERA
    return frame[list(SHOWN[name])].rename(columns=SHOWN[name])


class GpuReport:
    """The tables measured so far, written out after each one."""

    def __init__(self, out: Path, command: str, device: torch.device, name: str, sheet: Optional[DatasheetPeak],
                 packed_skipped: bool = False):
        self.out, self.command, self.device, self.name, self.sheet = out, command, device, name, sheet
        self.packed_skipped = packed_skipped
        self.tables: Dict[str, pd.DataFrame] = {}
        self.data_s = math.nan
        out.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, table: pd.DataFrame) -> pd.DataFrame:
        """Keep `table`, write it as <out>/<name>.parquet and rewrite the markdown; returns the table."""
        self.tables[name] = table
        table.assign(device=str(self.device), device_name=self.name, torch_version=torch.__version__).to_parquet(
            self.out / f"{name}.parquet", index=False)
        self.write()
        return table

    def note_data_seconds(self, seconds: float) -> None:
        """The trainer runs' data preparation time (a cold cache trains the tokenizer and encodes the corpus)."""
        self.data_s = seconds

    def header(self) -> str:
        """What the figures were measured on, and the datasheet peak they are also set against."""
        cuda = f", CUDA {torch.version.cuda}" if self.device.type == "cuda" else ""
        sheet = (f"datasheet dense bf16 peak {self.sheet.flops_per_s / TERA:.1f} TFLOP/s ({self.sheet.source})"
                 if self.sheet else "no datasheet peak in harness/bench/datasheet.py for this device")
        data = "" if math.isnan(self.data_s) else f" Data preparation for the trainer runs: {self.data_s:.1f} s."
        return f"Device: {self.device}, {self.name}, torch {torch.__version__}{cuda}; {sheet}.{data}"

    def render(self) -> str:
        """The report as markdown."""
        parts = ["# scalinglab GPU measurement", "", f"`{self.command}`, {date.today().isoformat()}", "",
                 self.header(), ""]
        for name, frame in self.tables.items():
            parts += [f"## {TITLES[name]}", "", markdown_table(shown(name, frame)), ""]
        if self.packed_skipped:
            parts += [PACKED_SKIPPED, ""]
        return "\n".join(parts)

    def write(self) -> str:
        """Write <out>/gpu_bench.md; return its text."""
        text = self.render()
        (self.out / MARKDOWN_NAME).write_text(text)
        return text
