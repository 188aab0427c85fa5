"""The machine a benchmark runs on: what it is, and its measured dense matmul peak."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch

from harness.device import matmul_flops_per_s

PEAK_SIZES = (512, 1024, 2048)  # square matmuls on the CPU; the best of them is the peak
# A GPU needs bigger products: a 2048^3 bf16 product is 17 GFLOP, about 20 us at an H100's datasheet
# dense bf16 rate (~990 TFLOP/s), short enough for launch and tail effects to show. Its peak is the best
# of sizes up to 8192.
GPU_PEAK_SIZES = (1024, 2048, 4096, 8192)
PEAK_TRIALS = 5  # best of several timings per size: a passing load should not lower the peak
PEAK_MIN_TIME_S = 0.2  # each timing repeats the matmul for at least this long


@dataclass(frozen=True)
class Machine:
    """What the numbers were measured on."""

    device: str
    processor: str
    torch_version: str
    threads: int
    cpu_count: int
    peak_dtype: str
    peak_flops_per_s: float
    peak_sizes: tuple
    peak_end_flops_per_s: float = float("nan")
    """The same peak measured again after everything else: a load that came or went during the run shows."""


def processor_name() -> str:
    """The CPU model from /proc/cpuinfo, else platform.processor(); the GPU name on CUDA is added by describe."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_dtype_for(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (what the trainer's autocast runs), fp32 on the CPU (bf16 is ~100x slower there)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def peak_sizes_for(device: torch.device) -> tuple:
    """The square matmul sizes whose best is the device's peak."""
    return GPU_PEAK_SIZES if device.type == "cuda" else PEAK_SIZES


def measure_peak(device: torch.device, sizes: tuple) -> float:
    """The best FLOP/s of square matmuls of `sizes` in the device's peak dtype, measured now."""
    dtype = peak_dtype_for(device)
    return max(matmul_flops_per_s(n, dtype, device, PEAK_TRIALS, PEAK_MIN_TIME_S) for n in sizes)


def describe(device: torch.device, sizes: tuple | None = None) -> Machine:
    """Name the machine and measure its dense matmul peak right now (a few seconds); sizes: peak_sizes_for."""
    sizes = peak_sizes_for(device) if sizes is None else tuple(sizes)
    if not sizes:
        raise ValueError("peak sizes: at least one square matmul size is needed")
    dtype = peak_dtype_for(device)
    peak = measure_peak(device, sizes)
    name = processor_name()
    if device.type == "cuda":
        name = f"{torch.cuda.get_device_name(device)} (host: {name})"
    return Machine(device=str(device), processor=name, torch_version=torch.__version__,
                   threads=torch.get_num_threads(), cpu_count=os.cpu_count() or 1,
                   peak_dtype=str(dtype).removeprefix("torch."), peak_flops_per_s=peak, peak_sizes=sizes)
