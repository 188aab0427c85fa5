"""The benchmark's tables as markdown (printed and saved) and parquet, one file per table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict

import pandas as pd

from harness.bench.machine import Machine

MARKDOWN_NAME = "bench.md"
# Start-to-end change of the measured peak above which the report warns: the VM here drifts by up to
# about 10% over hours (docs/speed.md), so more than that within one run means a load came or went.
PEAK_DRIFT_WARNING = 0.10
TITLES = {
    "shapes": "Trainer vs plain loop (tokens/s, exact-count FLOPs/s, MFU; eval share of the shape's runs)",
    "presets": "Test-loss evaluation as a share of each preset's training time (measured step and eval times)",
    "threads": "Threads per job: one multi-thread process vs single-thread processes side by side",
    "processes": ("Processes sharing the device: k trainer processes side by side (the threads a sweep gives "
                  "each of k jobs) vs one, total tokens/s over their common window"),
    "profile": ("Where a step's time goes (torch.profiler self time on the CPU; ms scaled to the unprofiled "
                "step): each group's FLOP rate over its profiled time by the exact count, against the peak"),
    "sweep": "Finished sweep: planned compute, training time, end-to-end time",
    "sweep_runs": "Finished sweep: per-run wall time",
    "ceiling": ("Whole preset vs the plain loop: step time over all planned runs, the compute floor "
                "(exact training FLOPs / peak), the most any trainer could gain, the MFU a 1.5x gain needs"),
    "variants": "Candidate trainer changes (each alone), interleaved with the trainer as it is",
}


# Columns shown in the markdown (the parquet keeps every column): table -> {column: header}.
SHOWN = {
    "shapes": {"preset": "preset", "shape": "shape", "params_non_embedding": "N",
               "trainer_tokens_per_s": "trainer tok/s", "plain_tokens_per_s": "plain tok/s",
               "trainer_over_plain": "trainer/plain", "ratio_min": "min", "ratio_max": "max",
               "trainer_gflops_per_s": "trainer GFLOP/s", "trainer_mfu": "trainer MFU", "plain_mfu": "plain MFU",
               "eval_fraction_longest_run": "eval share (longest run)",
               "eval_fraction_shape_runs": "eval share (all its runs)"},
}


def shown(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of `frame` that the markdown shows, renamed; FLOP/s as GFLOP/s."""
    if name not in SHOWN:
        return frame
    frame = frame.assign(trainer_gflops_per_s=frame["trainer_flops_per_s"] / 1e9)
    return frame[list(SHOWN[name])].rename(columns=SHOWN[name])


def format_value(value) -> str:
    """Numbers readable in a table: 4 significant digits, integers with thousands separators."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if math.isnan(value):
        return "–"
    return f"{value:.4g}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of `frame` (no index)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(format_value(v) for v in row) + " |"
            for row in frame.astype(object).itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def machine_lines(machine: Machine) -> str:
    """The device paragraph of the report: what it is, its peak at the start and at the end of the run."""
    text = (f"Device: {machine.device}, {machine.processor}, torch {machine.torch_version}, "
            f"{machine.threads} torch threads of {machine.cpu_count} cores. "
            f"Measured dense matmul peak ({machine.peak_dtype}, best square of "
            f"{', '.join(str(n) for n in machine.peak_sizes)}): "
            f"{machine.peak_flops_per_s / 1e9:.1f} GFLOP/s (every MFU here is against it)")
    if math.isnan(machine.peak_end_flops_per_s):
        return text + "."
    text += f"; measured again at the end: {machine.peak_end_flops_per_s / 1e9:.1f} GFLOP/s."
    change = machine.peak_end_flops_per_s / machine.peak_flops_per_s - 1
    if abs(change) > PEAK_DRIFT_WARNING:
        text += (f" **The peak changed by {change:+.0%} during the run: the machine's load or speed changed, so"
                 " compare figures only within blocks timed together (the interleaved ratios), not across tables.**")
    return text


def render(machine: Machine, tables: Dict[str, pd.DataFrame], command: str) -> str:
    """The whole report as markdown."""
    parts = ["# scalinglab speed benchmark", "", f"`{command}`", "", machine_lines(machine), ""]
    for name, frame in tables.items():
        if frame is None or frame.empty:
            continue
        parts += [f"## {TITLES.get(name, name)}", "", markdown_table(shown(name, frame)), ""]
    return "\n".join(parts)


def write_outputs(out: Path, machine: Machine, tables: Dict[str, pd.DataFrame], command: str) -> str:
    """Write <out>/<table>.parquet (device columns added) and <out>/bench.md; return the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    device_columns = {"device": machine.device, "processor": machine.processor,
                      "torch_version": machine.torch_version, "threads": machine.threads,
                      "peak_dtype": machine.peak_dtype, "peak_flops_per_s": machine.peak_flops_per_s,
                      "peak_end_flops_per_s": machine.peak_end_flops_per_s,
                      "peak_sizes": ",".join(str(n) for n in machine.peak_sizes)}
    pd.DataFrame([device_columns]).to_parquet(out / "machine.parquet", index=False)
    for name, frame in tables.items():
        if frame is not None and not frame.empty:
            frame.assign(**{k: v for k, v in device_columns.items() if k not in frame}).to_parquet(
                out / f"{name}.parquet", index=False)
    text = render(machine, tables, command)
    (out / MARKDOWN_NAME).write_text(text)
    return text
