"""Datasheet dense bf16 peaks of the GPUs a measurement may name, and which of them a device name is.

MFU against a datasheet peak is the usual report of a training run (Chowdhery et al. 2022 app. B); MFU against
the peak measured on the device says how close the trainer comes to what its matmuls can really do. The GPU
benchmark (harness/bench/gpu.py) gives both; sweep.estimate_peak_flops takes one of these figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class DatasheetPeak:
    """A device's dense (not 2:4 sparse) bf16 tensor-core peak and where the figure comes from."""

    device: str
    flops_per_s: float
    source: str


H100_WHITEPAPER = ("NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), comparison of data center GPUs, "
                   "row 'Peak BF16 Tensor TFLOPS' (dense / with sparsity)")
DATASHEET_BF16_PEAKS = {
    "H100 SXM": DatasheetPeak("H100 SXM", 989.4e12, H100_WHITEPAPER + ": SXM5"),
    "H100 PCIe": DatasheetPeak("H100 PCIe", 756e12, H100_WHITEPAPER + ": PCIe"),
    # the H200 is the H100 SXM's GH100 at the same clocks with more memory: its datasheet's 1,979 TFLOPS of bf16
    # are 'with sparsity', twice the dense rate
    "H200": DatasheetPeak("H200", 989.4e12, "NVIDIA H200 Tensor Core GPU datasheet: BF16 Tensor Core 1,979 "
                                            "TFLOPS with sparsity, so 989.4 dense"),
    "A100": DatasheetPeak("A100", 312e12, "NVIDIA A100 Tensor Core GPU datasheet (2020): BF16 312 TFLOPS dense "
                                          "(624 with sparsity), SXM and PCIe alike"),
}
# torch.cuda.get_device_name() patterns, most specific first: 'NVIDIA H100 80GB HBM3' is the SXM part, 'NVIDIA H100
# PCIe' the PCIe card. NVL parts (other clocks and power) are left unknown rather than matched to a wrong peak.
DEVICE_NAME_PATTERNS = (
    (r"H100.*NVL|H200.*NVL", None),
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100.*(SXM|HBM3)", "H100 SXM"),
    (r"H200", "H200"),
    (r"A100", "A100"),
)


def datasheet_peak(device_name: str) -> Optional[DatasheetPeak]:
    """The datasheet peak of the GPU `device_name` names (torch.cuda.get_device_name), None when not in the table."""
    for pattern, key in DEVICE_NAME_PATTERNS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return None if key is None else DATASHEET_BF16_PEAKS[key]
    return None
